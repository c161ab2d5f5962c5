"""Plausible mistakes for the demo's third student.

Maps assignment -> solution cell grade_id -> (text in the solution, replacement).
An entry that no longer matches its notebook is skipped; an assignment without
a matching entry gets its first exercise left as the untouched stub, so every
assignment shows the student losing some points.
"""

MISTAKES: dict[str, dict[str, tuple[str, str]]] = {
    # 00_fixture is the tests' tiny assignment: softmax without the max shift
    # is right; over the wrong axis is a classic.
    "00_fixture": {"softmax": ("dim=-1, keepdim=True).values", "dim=0, keepdim=True).values")},
    "01_rnn_recap": {
        # a dropped bias; sigmoid on the LSTM candidate; the GRU update gate the wrong way round.
        "rnn_cell_step": ("+ b)", ")"),
        "lstm_cell": ("torch.tanh(g)", "torch.sigmoid(g)"),
        "gru_cell": ("(1 - z) * n + z * h", "z * n + (1 - z) * h"),
    },
    "03_self_attention": {"scaled_dot_product_attention": ("/ math.sqrt(d_k)", "")},
    "04_multi_head_attention": {"split_heads": (".transpose(1, 2)", "")},
    "05_positional_encoding": {"sinusoidal_encoding": ("10000", "1000")},
    "06_add_norm_ffn": {"layer_norm": ("unbiased=False", "unbiased=True")},
    # the cache's look-ahead mask aligned to the top-left corner: right only when T_q == T_k.
    "07_decoder_masking": {"causal_mask": (".tril(diagonal=T_k - T_q)", ".tril()")},
}
