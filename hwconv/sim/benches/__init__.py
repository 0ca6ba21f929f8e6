"""cocotb benches. cocotb imports a bench as a top-level module with its folder first on
PYTHONPATH, so this folder holds benches only: a module here named like a standard one
(``profile``, ``queue``...) would shadow it inside the simulator."""
