"""One module per task, each encode → run → decode over the task base (`base.Task`: model, runtime, limits).

qa.py          QuestionAnswerer, QAOptions, decode_answers     (qa_batch.py: files of questions, with
               qa_batch_rows.py: their rows checked, qa_batch_state.py: OUTPUT.partial and resuming)
ner.py         EntityTagger, NEROptions, decode_entities
fill_mask.py   FillMask
nsp.py         NextSentencePredictor
embeddings.py  Embedder (sentence and word vectors)
attention.py   AttentionInspector (attention weights, what a word attends to)
"""
