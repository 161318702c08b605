"""Export: the PEFT adapter package, a merged model, a faster-whisper (CTranslate2) folder."""
