"""Schemas as named constants: parsers, generators, expectation suites and docs share them."""
