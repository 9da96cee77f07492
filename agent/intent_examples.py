"""Example phrasings per guided-mode intent: what agent/meaning.py compares a message with.

Each list says the intent in many different ways (short commands, questions, casual and polite phrasing), so
a message is understood by what it means rather than by a keyword. They are written independently of the
held-out paraphrases that measure the matcher (tests/intent_heldout.py): none of those may appear here.
Phrasings are separated by "|" (a line holds several). "other" holds small talk that asks for nothing, so a
greeting is not mistaken for a request.
"""

from __future__ import annotations

from agent.intent_examples_more import MORE_PHRASINGS

_PHRASINGS: dict[str, str] = {
    "status": """
        how's the model doing | how are things going with it | how is it getting along
        where are things at with the training | what's the situation | bring me up to date | fill me in on the run
        any updates? | how's run 3 looking so far | how's it going | is training over | are we there yet
        what percentage is done | how many steps to go | what's the current loss | is it still working on it
        time remaining? | show me the live progress | has run 4 finished | is my job done
        tell me how the training is coming | progress report on run 1 please | status | how is the training going
        is it done yet | what's the progress | how many epochs are left | is the run still running | what is the eta
        when will it finish | how far has the training got | check on run 3 | what's the state of the current run
        has training completed | give me a progress report | any progress? | is it finished | how much time remains
        what step is it on | keep me posted on the run | what's going on with the training
        how is run 2 doing right now
    """,
    "evaluate": """
        the figures please | what numbers did it get | how did the training turn out | stats for the run
        what's the quality like | how good did it get | evaluate the latest run | how reliable is it
        what's the accuracy of run 2 | was the training a success | show the evaluation | how did run 1 score
        results of the last run | how well did the model learn | check the model's quality | give me its scores
        how does the model do on the test split | what are the metrics for run 4 | results | evaluate run 2
        show the metrics | what accuracy did it get | how did the model perform | what's the f1 score
        show the confusion matrix | did the training work | how good is the model | is the model any use
        what were the results of run 3 | test the model | score the finished run | how well does it classify
        report the evaluation | were the predictions right | show me how it did on held-out data | grade the model
        what's the loss and accuracy | did it turn out well
    """,
    "compare": """
        compare 2 and 3 | run 1 or run 3, which one is better | how does run 4 compare to run 2
        which is better: run 3 or run 5 | side-by-side comparison of runs 2 and 4
        is the first run or the second one better | weigh run 2 against run 3 | compare run 1 and run 2
        compare the runs | run 3 vs run 4 | what's the difference between the two runs
        which run performed better, 2 or 3 | show both runs together | line up runs 1 and 2
        how do runs 2 and 3 differ | is run 4 better than run 3 | compare my last two models
        put the results of the runs next to each other | benchmark run 1 against run 3
        which of the two models is stronger | diff the runs
    """,
    "deploy": """
        make it usable from other software | let my app talk to the model | I'd like a url to send texts to
        get it live | go live | make it public as an api | put the model into production
        launch the model as a web api | serve run 3 | deploy the latest model | can I use the model from curl
        make the model available to other programs | put the model online | start serving it | host run 4 locally
        create an api for the model | get it running as a server | expose it on a port | deploy run 2 | deploy it
        serve the model | host it | give me an endpoint | publish the model | expose the model over a rest api
        start a server with run 3 | I want to query the model from my app | make the model reachable on the network
        launch an inference server | run the model as a service | let me send requests to it
        turn run 1 into an api | set up a prediction endpoint
    """,
    "list_runs": """
        what have I done so far | everything I trained | show what I've built up to now | list what I've made
        my trainings so far | show runs | list all runs | what runs exist | show me my trainings | list my models
        which runs have I started | past runs | what's in my run list | list runs | show all my runs | runs
        run history | what runs do I have | show my previous runs | which trainings have I done
        what have I built before | list every model I've made | show the runs table | what experiments exist
        give me an overview of past trainings | how many runs are there | earlier runs please
    """,
    "stop": """
        pause the run | freeze the training now | enough | that's enough training | no more training
        stop it already | switch the training off | put an end to the run | stop it | cancel training
        stop training now | kill the job | enough, stop | abort the run | please stop the run | halt it
        cancel the job | end the run | stop run 4 | terminate training | stop | stop the training | cancel the run
        abort | kill run 3 | halt training | end it now | stop run 2 please
        cancel it, I changed my mind about the training | interrupt the training | shut the training down
        don't let it keep training | cut the run short | finish the training early and stop
    """,
    "help": """
        what now? | I'm not sure what to do | what can I do here | help me | what are the commands
        how do I use you | what can this tool do | I'm confused | what's possible here | list the things I can say
        usage | instructions please | what do I do now | help | ? | what can you do | how does this work | commands
        what should I type | what can I ask you | show me the commands | I don't know what to do | where do I start
        explain how to use tunechat | what are you able to do for me | I need some guidance
        give me some examples of what to say
    """,
    "train": """
        make a filter out of these examples | turn this data into a detector | build an abuse detector with these texts
        predict the category from the description | teach the model to guess the label from the text
        model this data | train it | start a fine-tune on this file | fine-tune a model on these reviews
        build a classifier from this | make a model from the csv | teach a model using this data
        create a model from these labelled texts | learn the labels in this file
        build me something that tags these emails | train a sentiment model | develop a model on this dataset
        fine-tune gpt-4.1-mini on this | fine-tune a classifier on this | fine-tune on this | train a model
        train on this data | build a model from my file | make a classifier for these labels
        teach it to recognise the categories | I want a model that detects fraud in these messages
        create a sentiment classifier | fine-tune with lora on this | use this csv to make a model
        can you train something on the upload | build a ticket router from this data | fit a model to these examples
        make a model that predicts the score | finetune the base model on my chats | train a text classifier
        I'd like to build a topic tagger
    """,
    "explain": """
        why is run 3 better | how come run 2 won | what's the reason run 4 beat run 2 | explain why run 1 is worse
        why the gap between runs 2 and 3 | why did the new run score higher | why did run 2 beat run 1?
        explain the comparison | what made run 3 better | why is run 4 worse than run 3 | why did the second run win
        what caused the difference between the runs | explain why one run outperformed the other
        why did run 1 lose | what's behind run 2's higher accuracy | why are the results of the runs so different
        what made the difference
    """,
    "export": """
        I need the trained model as a file | hand over the trained weights
        copy the finished model somewhere I can use it | export | export for llama.cpp | save the model to a folder
        hand me the weights | export run 1 as merged weights | package the model for ollama | download run 4
        let me take the model with me | i need the checkpoint files | export run 2 | export it for ollama
        export as onnx | merge the lora weights | push it to the hub | export the model
        download the trained weights | write the model to disk as safetensors
        I want the model files to use elsewhere | convert the model to gguf | give me a copy of the weights
        save run 3 as a standalone model | make a portable version of the model | upload the model to hugging face
    """,
    "inspect": """
        how many examples does each label have | what are the column names | show a few rows | count the labels
        look at my data | check this file | what's in the data | analyze it | describe this data | show the columns
        give me a summary of the upload | what does the file contain | how does the data look | review my dataset
        is the file valid | inspect | inspect the data | look at the file | check the data | analyse this dataset
        describe the upload | what's in this file | profile the data | summarise the dataset
        how many rows are there | show me a preview of the data | which labels are in the file
        are there problems with my data | explore the csv | what kind of data is this
    """,
    "prepare": """
        clean up the data | remove the duplicate rows | split it | split the dataset 90/10 | fix broken rows
        tidy the data | deduplicate the file | convert the data to messages format | clean the file before training
        clean it up | remove duplicates | convert it to chat format | split it 80/10/10 | dedupe the data
        drop the empty rows | repair the file | prepare the data for training | remove the bad records
        split the data into train, validation and test | fix the data | clean the dataset | filter out broken lines
        turn the file into jsonl messages
    """,
    "delete": """
        destroy run 3 | wipe it out | remove it for good
        bin it | scrap that run | throw out run 3 | dump the old run | get rid of that run | delete run 1
        remove run 4 entirely | delete the dataset | get rid of this file | delete my upload | scrap run 2
        throw out the old data file | erase this dataset | delete run 2 | remove run 3 | delete dataset reviews.tsv
        delete this file | erase the upload | remove the file I uploaded | delete that run | wipe run 4 from disk
        discard the old run | I don't need run 1 anymore, delete it | free up space by removing run 2
        remove this dataset
    """,
    "resume": """
        let it keep training from its checkpoint | resume the training where it paused | keep the training going
        carry on | continue where the run stopped | pick the run back up | resume run 1 from where it was | resume
        resume it | continue run 2 | continue where it left off | restart run 3 from the checkpoint
        resume the stopped run | continue the interrupted training | retry run 2 | go on training from the last save
        resume run 2 | resume the run that crashed | retry the failed run | continue the training
        continue run 3 from its last checkpoint | resume training | start the interrupted run again where it stopped
        go on with the stopped run | finish the run that was cut off | resume from the checkpoint
    """,
    "best_run": """
        which run ranked first | which run is number one
        which run came out on top | which scored the most | who's the winner | which run is the best
        what's my best run | which model is best | best model please | which run scored best
        which one should I deploy | top performing model | best run | which run is best | show the best model
        which model scored highest | what is my best one | which run had the top accuracy
        find the winner among my runs | which of my models should I use | the best performing run please
        rank my runs
    """,
    "diagnose": """
        why did it fail | what went wrong with run 2 | diagnose run 3 | why did the run crash | explain the failure
        what's the error | why did training break | the training failed, why | why did run 3 fail? | what went wrong
        diagnose the failure | why did the training crash | the run died, why | run 2 errored, explain
        what's the error in the failed run | why did it stop working | find out why the run broke
        what killed the training
    """,
    "undeploy": """
        disable the endpoint | the server can go offline now | stop exposing the model
        take the model offline | stop the endpoint | unpublish the model | switch the server off | stop serving
        undeploy run 3 | shut down the endpoint | stop the server for run 1 | turn the api off | stop hosting it
        tear down the deployment | stop serving run 2 | undeploy it | take it down | shut down the server
        take the endpoint offline | stop the api | remove the deployment | no longer serve the model
        kill the inference server
    """,
    "dry_run": """
        dry-run it | try the plan first | do a test run first | run two steps to check
        test the setup before training | try a tiny run without saving | dry run | do a dry run first | try it first
        test run | run a quick trial of the plan without keeping anything
        check the plan works before the real training | a short test of the training setup
        make sure it fits in memory before starting
    """,
    "search": """
        find the best learning rate | tune the hyperparameters | hyperparameter search
        search for the best settings | optimise the training settings automatically
        try a few configurations and pick the winner | which batch size works best? try some
        sweep over epochs and learning rates
    """,
    "search_status": """
        search status | how is the search going | show the search results
    """,
    "search_stop": """
        stop the search | cancel the hyperparameter search
    """,
    "search_resume": """
        resume the search | continue the search
    """,
    "remedy": """
        retrain with the remedy | apply the remedy | retrain so it stops forgetting
    """,
    "judge": """
        judge run 3 | have an llm judge the answers | let a model grade the tuned answers
    """,
    "relaunch": """
        fix run 3 | relaunch it with the fix | try that again | fix the run and restart | fix it | relaunch
        try again | relaunch the failed run with a fix
    """,
    "rerun_like": """
        same as run 2 but 5 epochs | again with a higher learning rate | repeat run 1 | redo it with 4 epochs
        run it again with batch size 8 | train again like last time | same as last time but 3 epochs
        again but with lr 1e-4 | like run 2 with 5 epochs | rerun it | redo run 3 with a bigger batch
        another run like the previous one | copy run 1's settings for a new run
        train once more with the same setup
    """,
    "go": """
        let's go then | do it now | start now | yes please | yeah | let's go | go for it | start training
        start the run | ok go | alright | sure, go | ready, start | go | go ahead | yes | ok | start | start it
        do it | launch | proceed | sounds good | begin the training | kick it off | looks good, run it
        yes, start training | all right, let's go
    """,
    "other": """
        no | nope | no thanks | not now
        hey | thanks a lot | great | awesome, thank you | good night | how are you | what time is it | nice work
        hello | hi there | thanks | thank you very much | good morning | nice | cool | what's the weather like
        tell me a joke | who won the football match | I had pasta for lunch | bye
    """,
}

EXAMPLES: dict[str, list[str]] = {
    intent: list(
        dict.fromkeys(
            phrase.strip()
            for phrase in (text + "|" + MORE_PHRASINGS.get(intent, "")).replace("\n", "|").split("|")
            if phrase.strip()
        )
    )
    for intent, text in _PHRASINGS.items()
}
