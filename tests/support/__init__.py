"""What tests share: in-memory fakes of the ports (`memory`), and helpers for Azurite and the
local host (`storage`)."""
