"""Notebook 06: the wrong answers students write for LayerNorm, the FFN and the encoder layer.

The exercises are classes, so each wrong answer here is a class with the
exercise's constructor; test cells run them exactly as they run the student's
class (same weights, same inputs, same dropout seed).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import blocks


class _LayerNormBase(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def stats(self, x, unbiased=False):
        return x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=unbiased)


class _Unbiased(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x, unbiased=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


class _EpsOutside(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x)
        return self.weight * (x - mean) / (torch.sqrt(var) + self.eps) + self.bias


class _EpsFixed(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x)
        return self.weight * (x - mean) / torch.sqrt(var + 1e-12) + self.bias


class _NoGain(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x)
        return (x - mean) / torch.sqrt(var + self.eps) + self.bias


class _NoBias(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps)


class _BiasInside(_LayerNormBase):
    def forward(self, x):
        mean, var = self.stats(x)
        return self.weight * ((x - mean) / torch.sqrt(var + self.eps) + self.bias)


class _OverBatch(_LayerNormBase):
    def forward(self, x):
        mean, var = x.mean(0, keepdim=True), x.var(0, keepdim=True, unbiased=False)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


LAYER_NORM = {
    "the variance divides by d - 1 (unbiased, the default of .var()); LayerNorm divides by d": _Unbiased,
    "eps was added to the standard deviation; it belongs inside the square root, sqrt(variance + eps)":
        _EpsOutside,
    "the eps argument is ignored (a fixed tiny eps, or none): use self.eps, which matters when a token's "
    "variance is small": _EpsFixed,
    "the gain self.weight is never applied: y = weight * normalised + bias": _NoGain,
    "the shift self.bias is never added: y = weight * normalised + bias": _NoBias,
    "the bias is added before the gain multiplies: y = weight * normalised + bias, not weight * (normalised + bias)":
        _BiasInside,
    "the statistics are taken over the batch (dim 0), as batch norm does; LayerNorm uses the last dimension":
        _OverBatch,
}


class _FeedForwardBase(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)


class _ReluAtEnd(_FeedForwardBase):
    def forward(self, x):
        return F.relu(self.linear2(self.dropout(F.relu(self.linear1(x)))))


class _NoRelu(_FeedForwardBase):
    def forward(self, x):
        return self.linear2(self.dropout(self.linear1(x)))


class _DropoutAtEnd(_FeedForwardBase):
    def forward(self, x):
        return self.dropout(self.linear2(F.relu(self.linear1(x))))


class _DropoutOnInput(_FeedForwardBase):
    def forward(self, x):
        return self.linear2(F.relu(self.linear1(self.dropout(x))))


class _NoDropout(_FeedForwardBase):
    def forward(self, x):
        return self.linear2(F.relu(self.linear1(x)))


class _Gelu(_FeedForwardBase):
    def forward(self, x):
        return self.linear2(self.dropout(F.gelu(self.linear1(x))))


FEED_FORWARD = {
    "a ReLU was applied after linear2 too; the output layer is linear": _ReluAtEnd,
    "the ReLU between the two layers is missing": _NoRelu,
    "the dropout is applied to the output of linear2; it belongs between the ReLU and linear2": _DropoutAtEnd,
    "the dropout is applied to the input; it belongs between the ReLU and linear2": _DropoutOnInput,
    "the dropout is never applied (in training mode it must drop units after the ReLU)": _NoDropout,
    "GELU instead of ReLU: the paper's (and this exercise's) FFN uses ReLU": _Gelu,
}


class _EncoderLayerBase(blocks.EncoderLayer):
    """The library's layer (same parameter names) with the constructor of the exercise."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__(d_model, n_heads, d_ff, dropout=dropout, norm_first=norm_first)

    def attend(self, h, mask):
        return self.self_attn(h, h, h, mask=mask)[0]


class _NormsSwapped(_EncoderLayerBase):
    def forward(self, x, mask=None):
        if not self.norm_first:
            x = x + self.dropout1(self.attend(self.norm1(x), mask))
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.attend(x, mask)))
        return self.norm2(x + self.dropout2(self.ff(x)))


class _NoFeedForwardResidual(_EncoderLayerBase):
    def forward(self, x, mask=None):
        if self.norm_first:
            x = x + self.dropout1(self.attend(self.norm1(x), mask))
            return self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.attend(x, mask)))
        return self.norm2(self.dropout2(self.ff(x)))


class _MaskIgnored(_EncoderLayerBase):
    def forward(self, x, mask=None):
        return super().forward(x)


class _OneNorm(_EncoderLayerBase):
    def forward(self, x, mask=None):
        if self.norm_first:
            x = x + self.dropout1(self.attend(self.norm1(x), mask))
            return x + self.dropout2(self.ff(self.norm1(x)))
        x = self.norm1(x + self.dropout1(self.attend(x, mask)))
        return self.norm1(x + self.dropout2(self.ff(x)))


class _NoSublayerDropout(_EncoderLayerBase):
    def forward(self, x, mask=None):
        if self.norm_first:
            x = x + self.attend(self.norm1(x), mask)
            return x + self.ff(self.norm2(x))
        x = self.norm1(x + self.attend(x, mask))
        return self.norm2(x + self.ff(x))


ENCODER_LAYER = {
    "post-norm and pre-norm are swapped: norm_first=False (the paper) means x = norm(x + sublayer(x))":
        _NormsSwapped,
    "the feed-forward sublayer has no residual: add its input back before (post-norm) or after (pre-norm) "
    "the norm": _NoFeedForwardResidual,
    "the mask is ignored: pass it on to the attention, self.self_attn(h, h, h, mask=mask)": _MaskIgnored,
    "norm1 is used for both sublayers: the feed-forward sublayer has its own norm2": _OneNorm,
    "dropout1 / dropout2 are never applied to the sublayers' outputs (in training mode they must drop)":
        _NoSublayerDropout,
}


def _count(d_model, d_ff, bias=True):
    return blocks.encoder_layer_parameter_count(d_model, d_ff, bias)


ENCODER_LAYER_PARAMETER_COUNT = {
    "the feed-forward matrices were counted as 4 d_model^2 each way (d_ff = 4 d_model); use d_ff itself":
        lambda d_model, d_ff, bias=True: _count(d_model, 4 * d_model, bias),
    "the LayerNorms are missing (each has a gain, and a shift when bias=True)":
        lambda d_model, d_ff, bias=True: _count(d_model, d_ff, bias) - (4 if bias else 2) * d_model,
    "the output projection W_O (and its bias) is missing":
        lambda d_model, d_ff, bias=True: _count(d_model, d_ff, bias) - d_model * d_model - (d_model if bias else 0),
    "with bias=False the LayerNorms keep their gains: only the shifts go, so 2 d_model remain":
        lambda d_model, d_ff, bias=True: _count(d_model, d_ff, bias) - (0 if bias else 2 * d_model),
    "the biases are counted even when bias=False":
        lambda d_model, d_ff, bias=True: _count(d_model, d_ff, True),
    "the first FFN bias has d_model entries; it has d_ff (one per hidden unit)":
        lambda d_model, d_ff, bias=True: _count(d_model, d_ff, bias) - ((d_ff - d_model) if bias else 0),
}
