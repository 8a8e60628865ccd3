"""Host applications written for the tests, and the conformance scenario over them."""
