"""Photos and videos at scale: one callable class (``FileAnalyser``) that maps a batch of files to a
batch of result rows, and two engines that run it, a plain loop in this process (``local``) and Ray
Data's ``map_batches`` over an actor pool (``ray``). Both engines run the same class, so their
results are the same by construction, not by a second implementation."""
