"""The tagger and its kernels: ``lstm`` (the NumPy reference LSTM) and the kernels that must
equal it (``lstm_numba`` over ``lstm_cells_numba``, ``lstm_fused_numba``, ``lstm_blas_numba``;
``lstm_infer_numba``; ``lstm_cuda``), ``activations_numba``, ``bilstm``, ``chars`` (the
character CNN), ``layers`` (embedding, linear, dropout, loss), ``tagger`` (the whole model),
and ``backend`` (the one place a backend's kernels are chosen)."""
