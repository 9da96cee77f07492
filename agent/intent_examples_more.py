"""More example phrasings per guided-mode intent, in the forms people type in a chat: terse, slangy, polite,
questions, with run numbers. agent/intent_examples.py merges them with its own; the same "|" format.
"""

from __future__ import annotations

MORE_PHRASINGS: dict[str, str] = {
    "status": """
        update? | how's the run coming along | where are we with run 2 | quick status check
        how long till it's done | what's happening with run 1 | is it still at it | is run 4 done | eta?
        how's it looking | status of run 3 please | is the training through | where does the training stand
        how close is it to finishing | are we done yet | how many minutes left | still going? | progress?
        what's the latest on the training | run 2 status | how's my model coming | is it halfway yet
        could you give me a status update | where's the training up to | is the job still running
    """,
    "evaluate": """
        how did run 2 do | was it good | is it any good | how accurate is it | how well did run 3 learn
        results for run 1 please | what score did it get | numbers? | metrics? | accuracy? | f1?
        could you evaluate the model for me | how good is it now | is the model good enough
        what's the test accuracy of run 4 | how did it perform on the test set
        grade run 2 | quality check on run 1 | how many did it get right | show precision and recall
        how's the accuracy looking on the finished run | evaluate | any use?
    """,
    "compare": """
        2 vs 3 | run 1 vs 4 | compare 1 and 3 | which is better, 2 or 4 | run 2 or 3? | versus run 1
        compare them | how do they compare | is run 5 an improvement over run 4 | compare runs 3 and 5
        run 4 against run 1 please | which of runs 2 and 3 is better | line them up side by side
        did the new run beat the old one | how does the second run measure up to the first
        comparison of the last two | put the two models head to head
    """,
    "deploy": """
        deploy | deploy pls | serve it up | put it on an endpoint | give it an api | spin up a server
        host run 2 for me | I'd like to use it over http | make it callable over http | expose run 3
        I want to send it requests from my script | can I use it from javascript | set up an api please
        run it as a web service | launch run 1 as an api | make it available over the network
        I want to call it from my own program | roll it out | put run 4 into production
    """,
    "list_runs": """
        list them | show them all | which runs are there | what runs | all my runs please | what have I trained
        show my history | what did I train before | what's there | list my trainings | every run please
        what models have I got | my runs please | overview of runs | show previous trainings
        which experiments have I run | anything trained yet?
    """,
    "stop": """
        stop!! | stop now | kill | cancel | cancel it | stop run 1 | cancel run 4 please | abort run 2
        halt | end the training | stop the job | stop that | kill the run | quit training | make it quit
        shut it down | stop it right there | please cancel the training | pull the plug | cut it off
        I want to stop the run | stop the current run | terminate run 3
    """,
    "help": """
        help pls | help me out | what do I type | how does it work | how do I start | what's next
        I'm stuck | no idea what to do | what can I do | can you help | menu
        how to use this | show help | what can I ask | tell me what you can do | getting started
        I'm new here, what do I do | how do I get going | what commands are there
    """,
    "train": """
        train | train one | finetune | fine tune it | train on it | make a model | build a classifier
        can you fine-tune on this | train something on my data | fine-tune on the upload please
        make a spam classifier from this | train it to detect urgent messages | build a model that flags spam
        teach a model to sort these | I want a classifier for these texts | learn from this file
        make it learn the categories | train a model to label support tickets | build a tagger for these
        create a detector for abusive comments | I need a model that predicts the label | can we fine-tune?
    """,
    "explain": """
        why is run 2 better | why did run 4 win | why did it win | why the difference | why's run 3 worse
        what explains the gap | how come the second one won | why was run 1 better than run 2
        what's the reason for the difference | explain why it's better | why did the other run lose
    """,
    "export": """
        export it | export run 3 | export pls | give me the weights | save the model | download it
        download the model | can I have the weights | save it to disk | export to gguf | export for ollama please
        I want to take the weights away | save run 2 as files | give me the files | get the model out
        export the finished model | save it as onnx | make a gguf of run 1
    """,
    "inspect": """
        what's in the file | what's in there | check it | look at it | show me the data | check the upload
        what columns are there | how many examples | what's the label distribution | any issues in the data?
        take a look at my file | what did I upload | show the first rows | is the data ok | check my data please
        what does it look like | peek at the csv | inspect the upload | count the rows
    """,
    "prepare": """
        dedupe | dedupe it | clean | clean the data please | tidy it up | remove dupes | drop duplicates
        split | split the data | make a test split | split it 90/10 | convert to chat | turn it into chat format
        fix the bad rows | clean the broken rows out | drop the broken lines | split off validation data
    """,
    "delete": """
        delete run 3 | delete it | trash it | trash the run | remove run 1 | delete the run | erase run 2
        throw it away | get rid of it | wipe run 1 | delete the file | remove the data | toss run 4
        delete that file | I don't need this file, delete it | nuke it
    """,
    "resume": """
        continue | continue it | resume run 3 | keep going | go on with it | carry on with run 2
        resume where it stopped | pick it up from the checkpoint | keep training it | continue training run 1
        restart it from where it crashed | resume the last run | continue the stopped training
        pick run 2 back up | keep it going from the checkpoint
    """,
    "best_run": """
        best | best one | top run | which is best | which is the best one | which model won | best run?
        which run wins | which one is the best | which did best | who won | top model | my best one
        which run should I go with | the top one please | which of them is best
    """,
    "diagnose": """
        what happened | it failed | what failed | why'd it fail | error | the run failed
        run 2 failed | what's wrong | what went wrong with it | why did run 1 die | it crashed, why
        why isn't it working | show me the error | what broke | why did the training stop with an error
    """,
    "undeploy": """
        undeploy | stop the api | take it offline | shut the api down | stop serving it | kill the server
        turn off the server | take down the endpoint | stop the endpoint for run 3 | unserve it
        I don't need the api anymore | close the endpoint | bring the server down
    """,
    "dry_run": """
        dry run first | try a dry run | do a quick test | test it first | a trial run first | quick test run
        try it on a few steps first | check it works first | run a smoke test
    """,
    "search": """
        search hyperparameters | find good settings | tune it | hyperparameter tuning | sweep the learning rate
        try several learning rates | search the best batch size | find the best settings for me
        try some settings and keep the best one | auto-tune the training
    """,
    "search_status": """
        search progress | how's the sweep going | is the search done | search results? | how far is the search
        what has the search found | status of the hyperparameter search
    """,
    "search_stop": """
        stop the sweep | cancel the search | kill the search | end the search | halt the hyperparameter search
        abort the sweep | enough searching
    """,
    "search_resume": """
        resume the sweep | continue searching | keep searching | go on with the search | pick the search back up
        restart the search where it stopped | carry on searching
    """,
    "relaunch": """
        fix and relaunch | relaunch run 1 | retry with the fix | fix it and try again | relaunch it
        fix the failed run | apply the fix and restart | fix run 2 and relaunch
    """,
    "rerun_like": """
        same again | again with 3 epochs | do it again | redo it | rerun | again but faster
        one more with a lower lr | repeat that with 5 epochs | rerun run 2 with batch size 16
        same settings again | another one like run 3 | redo run 2 but with more epochs
    """,
    "go": """
        yes, go | go go | yup | ok start | okay go | sure | sure, start | ye | y
        start it up | fire it up | kick it off | run it | go on | off you go | yes start | let it rip
        ok then | alright go | do your thing | green light | make it so | begin | ok, go ahead
        yes, go ahead | start the training now | hit it
    """,
    "other": """
        nah mate | nope | no no | not yet | hmmm | uh | um | meh | huh | ok thanks | cheers | ty | thanks!!
        hey | yo | sup | hiya | hello there | morning | evening | good afternoon | see ya | later | bye bye
        thanks mate | great job | you rock | lmao | haha | nice one | wow | cool | sweet | oops
        what's up | what's up with you | how are you doing | who are you | what's your name | are you a robot
        what's 2 plus 2 | what day is it | where is paris | I'm hungry | it's raining | my cat is asleep
        tell me something funny | sing a song | I like pizza | never mind | forget it | wait
    """,
}
