"""The rotation engine: state machine, locking, planning, status. Never imports an
SDK: stores and targets are reached through their protocols and registries."""
