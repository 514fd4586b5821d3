"""sdkabi.py - the plugin ABI this build's SDK defines, for the loader
tests that check what mchost reports and judges by."""
import os
import re


def sdk_abi():
    """(major, minor) as sdk/include/minichain/plugin.h defines them."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "..", "..", "sdk", "include", "minichain",
                          "plugin.h")
    with open(header) as f:
        text = f.read()
    return tuple(int(re.search(r"#define MC_ABI_%s (\d+)" % part,
                               text).group(1))
                 for part in ("MAJOR", "MINOR"))
