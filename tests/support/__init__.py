"""What tests share: in-memory fakes of the ports (`memory`), and helpers for tests on Azurite and
the Log Analytics fake (`storage`)."""
