"""bertkit: BERT-family encoders doing real work on your text.

>>> import bertkit  # doctest: +SKIP
>>> qa = bertkit.QuestionAnswerer("path/to/qa-model")  # doctest: +SKIP
>>> qa("Where does John live?", "John lives in New York City.")  # doctest: +SKIP
[Answer(answer='New York City', start=14, end=27, score=0.97)]

Every task is encode → run → decode: pure encoding and decoding functions around one runtime.

    encoding.py          windows with stride, offsets, sequence ids, word ids (QA and token windows), token_table
    runtime.py           the one place that knows torch: batching by length, padding, dtype, scoped threads
    quantize.py          int8: the encoder's linears quantized, 8-bit activations where the CPU has VNNI
    inference_bert.py    plain-torch BERT forward for the shipped defaults (fast start, bit-identical fp32)
    numpy_bert.py        numpy BERT forward: short work on the defaults in fp32 without importing torch
    decoding.py          shared decoding pieces: softmax, the max-context score, span trimming
    loading.py           hub id | local dir | embedded default → tokenizer + model (safetensors only)
    default_models.py    the shipped defaults (deltas.py: int4/int8 deltas over the MiniLM weights)
    files.py             atomic writes, UTF-8 reading, streamed SQuAD JSON; squad_format.py: the one SQuAD
                         walker; corpus.py: streamed corpora (text, blocks, JSONL, SQuAD)
    hangul.py            the Hangul-exact tokenizer (every syllable boundary a token boundary)
    particles.py         Korean particles glued inside a WordPiece token: where a span really ends
    errors.py            one exception per failure kind, with its exit code and HTTP status
    checks.py            argument checks written once (texts as valid Unicode, counts, finite numbers)
    tasks/               base.py (model + runtime + limits) and one module per task: qa (+ qa_decoding,
                         qa_stream: windows a chunk at a time, qa_merge: chunks' answers merged,
                         qa_batch), ner, fill_mask, nsp, embeddings, attention
    training/            fit.py (the one loop, its settings in loop_config.py) over batches, optimizer, checkpoints, processes, progress;
                         qa.py / ner.py / mlm.py (trainers) with qa_data|qa_loading|qa_records|qa_features,
                         ner_data|ner_features, mlm_data; metrics.py (+ squad_v2.py), predictions.py
    tokenizer_training.py, tokenizer_recipes.py
    viz/                 pictures: style, layout (one token-box layout), token_boxes, qa, attention, entities
    cli/                 typer commands, one module per group, options → one library call (_util: shared)
    server/              FastAPI: config, schemas, errors, limits, slow_clients, worker (models + QA batching
                         in fair rounds: scheduler), routes/; web/
"""

from .encoding import qa_windows, token_table
from .errors import BertkitError, DataError, InputError, ModelLoadError, OutputError
from .loading import Model, load, load_tokenizer
from .tasks.attention import AttentionInspector, AttentionWeights, TokenWeight, WordAttention
from .tasks.embeddings import Embedder, WordVector, cosine_matrix
from .tasks.fill_mask import Fill, FillMask
from .tasks.ner import Entity, EntityTagger, NEROptions
from .tasks.nsp import NextSentence, NextSentencePredictor
from .tasks.qa import QAOptions, QuestionAnswerer
from .tasks.qa_decoding import Answer, decode_answers

__all__ = [
    "Answer",
    "AttentionInspector",
    "AttentionWeights",
    "BertkitError",
    "DataError",
    "Embedder",
    "Entity",
    "EntityTagger",
    "Fill",
    "FillMask",
    "InputError",
    "Model",
    "ModelLoadError",
    "NEROptions",
    "NextSentence",
    "NextSentencePredictor",
    "OutputError",
    "QAOptions",
    "QuestionAnswerer",
    "TokenWeight",
    "WordAttention",
    "WordVector",
    "cosine_matrix",
    "decode_answers",
    "load",
    "load_tokenizer",
    "qa_windows",
    "token_table",
]
__version__ = "0.1.0"
