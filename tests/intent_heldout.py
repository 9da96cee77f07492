"""Held-out paraphrases for guided mode's intents: data, not tests.

Written once, before the matcher's example phrasings (agent/intent_examples.py), as a new user would type in a
chat with two finished runs and a data file uploaded; typos on purpose. Never used to choose or tune the examples:
tests/test_meaning.py checks no sentence here appears among them, and benchmarks/intent_paraphrases.py reports
the share understood. Each row: the message, the intent it asks for, and the run ids it names (None: not checked).
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, str, list[int] | None]] = [
    # status
    ("how long left", "status", None),
    ("update me", "status", None),
    ("how far along is it?", "status", None),
    ("is the training finished yet", "status", None),
    ("whats happening with my run", "status", None),
    ("any news on the training?", "status", None),
    ("how much longer will it take", "status", None),
    ("is it still going?", "status", None),
    ("how is my model coming along", "status", None),
    ("hows the traning going", "status", None),
    ("stauts", "status", None),
    ("where is run 2 at right now", "status", [2]),
    # evaluate
    ("how well did it do?", "evaluate", None),
    ("was it any good", "evaluate", None),
    ("show me the scores", "evaluate", None),
    ("how accurate is the model", "evaluate", None),
    ("what did it score on the test set", "evaluate", None),
    ("did it learn anything?", "evaluate", None),
    ("give me the numbers for run 2", "evaluate", [2]),
    ("how good is run 1", "evaluate", [1]),
    ("evalute it", "evaluate", None),
    ("what's the performance like", "evaluate", None),
    # compare
    ("which is better, run 1 or run 2", "compare", [1, 2]),
    ("put run 1 and run 2 side by side", "compare", [1, 2]),
    ("how does run 2 stack up against run 1", "compare", [2, 1]),
    ("run 1 versus run 2", "compare", [1, 2]),
    ("contrast the two runs", "compare", None),
    ("compair run 1 and 2", "compare", [1, 2]),
    ("show the two runs next to each other", "compare", None),
    # deploy
    ("put it behind an api", "deploy", None),
    ("make it available as a web service", "deploy", None),
    ("I want to call it over http", "deploy", None),
    ("ship it to production", "deploy", None),
    ("make run 2 live", "deploy", [2]),
    ("spin up a server for run 1", "deploy", [1]),
    ("deplyo run 2", "deploy", [2]),
    # list_runs
    ("what have I trained so far", "list_runs", None),
    ("show me everything I've run", "list_runs", None),
    ("which models do I have", "list_runs", None),
    ("list my experiments", "list_runs", None),
    ("what runs are there", "list_runs", None),
    ("show my training history", "list_runs", None),
    # stop
    ("that's enough, end the training", "stop", None),
    ("please halt", "stop", None),
    ("stopp the run", "stop", None),
    ("terminate the job", "stop", None),
    ("quit training now", "stop", None),
    ("pull the plug on run 2", "stop", [2]),
    # help
    ("what can I say?", "help", None),
    ("I'm lost", "help", None),
    ("what are my options", "help", None),
    ("how do I use this", "help", None),
    ("hepl", "help", None),
    ("what do you do?", "help", None),
    # train
    ("build a spam detector from this file", "train", None),
    ("teach a model to sort these reviews", "train", None),
    ("make me a sentiment model with this data", "train", None),
    ("learn from this csv", "train", None),
    ("I want to fine tune on these tickets", "train", None),
    ("create a model that predicts the label", "train", None),
    ("fine tuen a classifer on this", "train", None),
    ("start learning from my data", "train", None),
    # explain
    ("why is run 2 ahead of run 1", "explain", [2, 1]),
    ("what's the reason run 2 did better", "explain", [2]),
    ("how come run 1 scored higher?", "explain", [1]),
    ("what explains the gap between the runs", "explain", None),
    # export
    ("save the weights so I can download them", "export", None),
    ("give me the model files", "export", None),
    ("package run 2 as onnx", "export", [2]),
    ("I want a gguf of it", "export", None),
    ("get the trained model out as a folder", "export", None),
    # inspect
    ("what does my data look like", "inspect", None),
    ("take a peek at the file", "inspect", None),
    ("what columns does it have", "inspect", None),
    ("tell me about this dataset", "inspect", None),
    ("is my data ok?", "inspect", None),
    # prepare
    ("get rid of the duplicate rows", "prepare", None),
    ("tidy up the file", "prepare", None),
    ("make a train and test split", "prepare", None),
    ("fix the broken lines in the data", "prepare", None),
    # delete
    ("throw away run 1", "delete", [1]),
    ("get rid of run 2 completely", "delete", [2]),
    ("erase run 1 for good", "delete", [1]),
    ("trash that dataset", "delete", None),
    # resume
    ("pick up where run 2 left off", "resume", [2]),
    ("carry on training run 1", "resume", [1]),
    ("restart the crashed run from its checkpoint", "resume", None),
    ("keep going from where it stopped", "resume", None),
    # best_run
    ("which one did best", "best_run", None),
    ("what's my top model", "best_run", None),
    ("which run won", "best_run", None),
    ("show me the strongest run", "best_run", None),
    # diagnose
    ("what happened to run 2, it failed", "diagnose", [2]),
    ("why did it crash", "diagnose", None),
    ("the run broke, what's the cause?", "diagnose", None),
    # undeploy
    ("take the api offline", "undeploy", None),
    ("turn off the server for run 2", "undeploy", [2]),
    # dry_run
    ("just try a couple of steps first", "dry_run", None),
    # search
    ("find good hyperparameters for me", "search", None),
    ("try different learning rates and keep the best", "search", None),
    # rerun_like
    ("do the same thing again with more epochs", "rerun_like", None),
    ("repeat the last run but with 2 epochs", "rerun_like", None),
    # go (with a plan waiting)
    ("let's do it", "go", None),
    ("fire away", "go", None),
]
