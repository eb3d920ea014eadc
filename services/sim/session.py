"""Login and session members: CommConnect, GetConnectState, GetLoginInfo, GetAPIModulePath, SetInfoData."""
from __future__ import annotations

from .core import OP_ERR_NONE, SimCore


class Session:
    """Login emulation: CommConnect returns 0 at once and OnEventConnect(0) follows from the loop.

    A login failure injected through the harness makes the next CommConnect deliver that code
    instead. Calling CommConnect while connected returns 0 and delivers nothing (the real one
    shows no second login window).
    """

    def __init__(self, core: SimCore):
        self._core = core
        self._login_pending = False

    def comm_connect(self) -> int:
        core = self._core
        if core.connected or self._login_pending:
            return OP_ERR_NONE
        self._login_pending = True
        error = core.faults.next_login_error
        core.faults.next_login_error = None

        def finish() -> bool:
            self._login_pending = False
            if error is None:
                core.connected = True
                core.ever_connected = True
            return True

        core.post("OnEventConnect", 0 if error is None else int(error), context=finish,
                  delay_ms=core.config.login_delay_ms)
        return OP_ERR_NONE

    def comm_terminate(self) -> None:
        """No longer supported by the real control: does nothing."""
        return None

    def get_connect_state(self) -> int:
        return 1 if self._core.connected else 0

    def get_login_info(self, tag: str) -> str:
        core = self._core
        if not core.connected:
            return ""
        config = core.config
        accounts = [a.number for a in config.accounts]
        values = {
            "ACCOUNT_CNT": str(len(accounts)),
            "ACCNO": "".join(a + ";" for a in accounts),
            "ACCLIST": "".join(a + ";" for a in accounts),
            "USER_ID": config.user_id,
            "USER_NAME": config.user_name,
            "KEY_BSECGB": config.key_bsecgb,
            "FIREW_SECGB": config.firew_secgb,
            "GetServerGubun": config.server_gubun,
        }
        return values.get(tag, "")

    def get_api_module_path(self) -> str:
        return self._core.config.module_path

    def set_info_data(self, info: str) -> int:
        """Chooses the auto-login user on the real control; accepted and ignored here."""
        return OP_ERR_NONE
