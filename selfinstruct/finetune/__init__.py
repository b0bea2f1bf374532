"""Fine-tuning a student on alpaca_data.json, and trying it.

    train.py     `selfinstruct finetune`: the command body, top to bottom
    data.py      prompt template, reading and tokenising the rows, response-only labels
    base.py      resolving and loading the base model (packaged Gemma GGUF, a directory or a hub id)
    trainer.py   the TRL SFTTrainer subclass with the response-only loss
    output.py    saving and checking the adapter or merged model, the model card
    progress.py  training progress lines
    ask.py       `selfinstruct ask`: load a tuned model (or its GGUF) and answer one instruction
    export_gguf.py  `selfinstruct export-model`: merge, write, quantize (llama.cpp) and verify a GGUF
    gguf_convert.py hyperparameters and tensors under llama.cpp's names (gguf-py's writer and name map)
    gguf_vocab.py   the tokenizer keys and the training prompt template in the GGUF
    gguf_verify.py  llama.cpp's logits against transformers' on fixed prompts
"""
