"""bertkit: BERT-family encoders doing real work on your text.

>>> import bertkit  # doctest: +SKIP
>>> qa = bertkit.QuestionAnswerer("path/to/qa-model")  # doctest: +SKIP
>>> qa("Where does John live?", "John lives in New York City.")  # doctest: +SKIP
[Answer(answer='New York City', start=14, end=27, score=0.97)]
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
