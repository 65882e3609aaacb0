"""Loads libpennant with ctypes and declares the session API's C signatures.

Where the library comes from, first match wins:
  1. the PENNANT_LIB environment variable (a path to libpennant.so*);
  2. the build tree next to this source tree (python/pennant/ -> ../../build/), for use
     straight from a checkout (PENNANT_BUILD_DIR names another build directory);
  3. the library directory `meson install` wrote into _install_paths.py;
  4. whatever the dynamic loader finds (ctypes.util.find_library("pennant")).
"""
import ctypes
import ctypes.util
import os

_SONAME = "libpennant.so"


def _candidates():
    env = os.environ.get("PENNANT_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    src_root = os.path.dirname(os.path.dirname(here))
    build = os.environ.get("PENNANT_BUILD_DIR") or os.path.join(src_root, "build")
    yield os.path.join(build, _SONAME)
    try:
        from . import _install_paths  # written by meson install
        yield os.path.join(_install_paths.LIBDIR, _SONAME + "." + _install_paths.SOVERSION)
    except ImportError:
        pass
    found = ctypes.util.find_library("pennant")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("pennant: cannot load libpennant; tried: " + ("; ".join(tried) or
                      "nothing (set PENNANT_LIB to the library's path)"))


lib, path = _load()

c_float_p = ctypes.POINTER(ctypes.c_float)
c_double_p = ctypes.POINTER(ctypes.c_double)
c_int_p = ctypes.POINTER(ctypes.c_int)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


version = _fn("pn_version", ctypes.c_char_p)
