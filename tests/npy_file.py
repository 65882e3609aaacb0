"""The one .npy reader the Python test scripts share: a float32 vector saved by the tools
(--save-model), read without numpy (the scripts run on the system python)."""
import struct


def load_npy_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not an .npy file")
    hlen = struct.unpack("<H", data[8:10])[0]
    body = data[10 + hlen:]
    return struct.unpack("<%df" % (len(body) // 4), body)
