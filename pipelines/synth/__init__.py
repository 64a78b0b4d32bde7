"""Synthetic multi-source data with known ground truth (ARCHITECTURE §3.2).

A population of people with behaviour archetypes produces a CRM export, orders, support
tickets, web analytics and social mentions, each in its native shape and with real-world
mess; the generator also records who is truly behind every record and identifier.

Generation (:func:`generate_block`) is pure and works block by block (10,000 people);
:class:`BatchWriter` puts the results on disk. ``jobs/generate_data.py`` is the CLI.
"""

from pipelines.synth.block import FORMATS, SOURCES, BlockOutput, generate_block
from pipelines.synth.settings import BLOCK_SIZE, GeneratorSpec, Shares
from pipelines.synth.truth import PairScores, pairwise_scores
from pipelines.synth.writer import BatchWriter, write_examples

__all__ = [
    "BLOCK_SIZE",
    "FORMATS",
    "SOURCES",
    "BatchWriter",
    "BlockOutput",
    "GeneratorSpec",
    "PairScores",
    "Shares",
    "generate_block",
    "pairwise_scores",
    "write_examples",
]
