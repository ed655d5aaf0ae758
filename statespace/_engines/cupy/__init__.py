"""CuPy engine: CUDA kernels for CuPy arrays (the only place :mod:`cupy` is imported).

No function has a CuPy kernel yet; on CuPy arrays the portable ``"xp"``
engine runs (on the GPU, through CuPy's array-API namespace).
"""
