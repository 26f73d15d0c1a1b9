"""The blue-green switchover wizard (issue 13): green beside blue, warmed, traffic moved step by step through gates."""
