# ruff: noqa: F722, F821
"""A small org.freedesktop.Notifications service for tests: records every Notify call as a JSON line.

Run: python notify_service.py BUS_ADDRESS RECORD_FILE — prints "ready" once it owns the name.
(No `from __future__ import annotations`: dbus-fast reads the D-Bus signatures from the annotations.)
"""

import asyncio
import json
import sys

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method


class Notifications(ServiceInterface):
    def __init__(self, record: str) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.record = record
        self.next_id = 0

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        self.next_id += 1
        rec = {"app_name": app_name, "summary": summary, "body": body, "icon": app_icon,
               "hints": {k: v.value if isinstance(v, Variant) else v for k, v in hints.items()},
               "expire_timeout": expire_timeout, "id": self.next_id}
        with open(self.record, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return self.next_id

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["losswatch-test", "losswatch", "1", "1.2"]

    @method()
    def CloseNotification(self, id: "u") -> None:
        pass


async def main(address: str, record: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/org/freedesktop/Notifications", Notifications(record))
    await bus.request_name("org.freedesktop.Notifications")
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
