"""fer: real-time facial expression recognition engine (detection, preprocessing, inference, training).

Importing this package imports neither TensorFlow nor Streamlit: heavy modules load lazily so a
process can import aiortc before TensorFlow (the other order crashes).

It sets one thing before OpenCV loads: its worker threads sleep as soon as a parallel call ends
instead of spinning for the next one. The video path makes many small cascade calls (near-searches
on ~100 px windows); spinning between them burnt a fifth of their CPU (2.9 against 3.6 ms of CPU a
call on a 96 px window, paced like a camera), CPU that a live server with several streams, or the
browser beside it, needs. Wall time of a full still-frame scan is unchanged. Set the variables
yourself to override; they do nothing if OpenCV was imported first.
"""
import os as _os

for _name in ("OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER", "OPENCV_THREAD_POOL_ACTIVE_WAIT_MAIN"):
    _os.environ.setdefault(_name, "0")
