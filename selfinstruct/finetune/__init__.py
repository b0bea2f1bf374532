"""Fine-tuning a student on alpaca_data.json, and trying it.

    train.py     `selfinstruct finetune`: the command body, top to bottom
    data.py      prompt template, reading and tokenising the rows, response-only labels
    base.py      resolving and loading the base model (packaged Gemma GGUF, a directory or a hub id)
    trainer.py   the TRL SFTTrainer subclass with the response-only loss
    output.py    saving and checking the adapter or merged model, the model card
    progress.py  training progress lines
    ask.py       `selfinstruct ask`: load a tuned model and answer one instruction
"""
