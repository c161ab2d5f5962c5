"""Notebook 06: alternative answers, right and wrong (see variants.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .variants import correct, mutant

NOTEBOOK = "06_add_norm_ffn"


# ---------------------------------------------------------------- LayerNorm

@correct("LayerNorm")
class LayerNormRsqrt(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, unbiased=False)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


@correct("LayerNorm")
class LayerNormMomentsFormula(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean ** 2           # E[x^2] - E[x]^2
        return self.weight * ((x - mean) / (var + self.eps) ** 0.5) + self.bias


@correct("LayerNorm")
class LayerNormStd(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        centred = x - x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, unbiased=False, keepdim=True)
        return centred / torch.sqrt(std ** 2 + self.eps) * self.weight + self.bias


@mutant("LayerNorm", bug="unbiased variance (x.var())", cause="d - 1", names="d - 1")
class LayerNormUnbiased(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + self.eps) + self.bias


@mutant("LayerNorm", bug="eps added to the standard deviation", cause="inside the square root",
        names="inside the square root")
class LayerNormEpsOutside(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = ((x - mean) ** 2).mean(-1, keepdim=True).sqrt()
        return self.weight * (x - mean) / (std + self.eps) + self.bias


@mutant("LayerNorm", bug="eps hard-coded to 1e-12 (BERT's value), the argument ignored",
        cause="eps argument is ignored", names="eps argument is ignored")
class LayerNormFixedEps(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + 1e-12) + self.bias


@mutant("LayerNorm", bug="the gain is never applied", cause="gain", names="gain self.weight is never applied")
class LayerNormNoGain(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) + self.bias


@mutant("LayerNorm", bug="the bias is never added", cause="shift", names="shift self.bias is never added")
class LayerNormNoBias(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps)


@mutant("LayerNorm", bug="weight * (normalised + bias)", cause="before the gain", names="before the gain")
class LayerNormBiasInside(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return self.weight * ((x - mean) / torch.sqrt(var + self.eps) + self.bias)


@mutant("LayerNorm", bug="statistics over dim 0 (batch norm)", cause="batch", names="over the batch")
class LayerNormOverBatch(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(0, keepdim=True)
        var = ((x - mean) ** 2).mean(0, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


@mutant("LayerNorm", bug="gain initialised to zeros", cause=None)
class LayerNormZeroGain(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


@mutant("LayerNorm", bug="the mean is detached (wrong gradients)", cause=None)
class LayerNormDetachedMean(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True).detach()
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


@mutant("LayerNorm", bug="calls F.layer_norm", cause=None)
class LayerNormLibrary(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


# ---------------------------------------------------------------- FeedForward

@correct("FeedForward")
class FeedForwardFunctionalDropout(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.p = dropout

    def forward(self, x):
        hidden = torch.relu(self.linear1(x))
        return self.linear2(F.dropout(hidden, self.p, training=self.training))


@correct("FeedForward")
class FeedForwardDropoutBeforeRelu(nn.Module):
    # relu(dropout(h)) == dropout(relu(h)): dropout only zeroes and scales by a positive factor
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.linear2(self.activation(self.dropout(self.linear1(x))))


@mutant("FeedForward", bug="ReLU after linear2 too", cause="after linear2", names="after linear2")
class FeedForwardReluAtEnd(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return F.relu(self.linear2(self.dropout(F.relu(self.linear1(x)))))


@mutant("FeedForward", bug="no ReLU", cause="ReLU between", names="ReLU between")
class FeedForwardNoRelu(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(self.dropout(self.linear1(x)))


@mutant("FeedForward", bug="dropout on the output", cause="output of linear2", names="output of linear2")
class FeedForwardDropoutAtEnd(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.linear2(F.relu(self.linear1(x))))


@mutant("FeedForward", bug="dropout on the input", cause="applied to the input", names="applied to the input")
class FeedForwardDropoutOnInput(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(F.relu(self.linear1(self.dropout(x))))


@mutant("FeedForward", bug="dropout created but never applied", cause="never applied", names="never applied")
class FeedForwardNoDropout(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(F.relu(self.linear1(x)))


@mutant("FeedForward", bug="F.dropout without training=self.training (drops in evaluation mode too)", cause=None)
class FeedForwardAlwaysDrops(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.p = dropout

    def forward(self, x):
        return self.linear2(F.dropout(F.relu(self.linear1(x)), self.p))


@mutant("FeedForward", bug="GELU instead of ReLU", cause="GELU", names="GELU")
class FeedForwardGelu(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(self.dropout(F.gelu(self.linear1(x))))


@mutant("FeedForward", bug="wraps the library's FeedForward", cause=None)
class FeedForwardLibrary(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.0):
        super().__init__()
        inner = tc.blocks.FeedForward(d_model, d_ff, dropout)  # noqa: F821
        self.linear1, self.linear2, self.dropout, self.inner = inner.linear1, inner.linear2, inner.dropout, inner

    def forward(self, x):
        return self.inner(x)


# ---------------------------------------------------------------- EncoderLayer

@correct("EncoderLayer")
class EncoderLayerExplicit(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1 = tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.norm2 = tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            h = self.norm2(x)
            x = x + self.dropout2(self.ff(h))
        else:
            attended, _ = self.self_attn(x, x, x, mask=mask)
            x = self.norm1(x + self.dropout1(attended))
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return x


@correct("EncoderLayer")
class EncoderLayerTorchNormsOwnFeedForward(nn.Module):
    # nn.LayerNorm and exercise 2's FeedForward instead of the library's twins
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout)  # noqa: F821
        self.ff = FeedForward(d_model, d_ff, dropout)  # noqa: F821
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def _attention_block(self, x, mask):
        return self.dropout1(self.self_attn(x, x, x, mask=mask)[0])

    def _feed_forward_block(self, x):
        return self.dropout2(self.ff(x))

    def forward(self, x, mask=None):
        if not self.norm_first:
            x = self.norm1(x + self._attention_block(x, mask))
            return self.norm2(x + self._feed_forward_block(x))
        x = x + self._attention_block(self.norm1(x), mask)
        return x + self._feed_forward_block(self.norm2(x))


@mutant("EncoderLayer", bug="norm_first meaning inverted", cause="swapped", names="swapped")
class EncoderLayerSwapped(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if not self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="no residual around the feed-forward sublayer", cause="no residual",
        names="no residual")
class EncoderLayerNoFeedForwardResidual(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm2(self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="the mask is never passed to the attention", cause="mask is ignored",
        names="mask is ignored")
class EncoderLayerIgnoresMask(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h)[0])
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x)[0]))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="norm1 used for both sublayers", cause="norm1 is used for both",
        names="norm1 is used for both")
class EncoderLayerOneNorm(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return x + self.dropout2(self.ff(self.norm1(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm1(x + self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="one LayerNorm object registered twice (self.norm2 = self.norm1)", cause=None)
class EncoderLayerSharedNormObject(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1 = tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.norm2 = self.norm1
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="dropout1/dropout2 created but not applied", cause="never applied",
        names="never applied")
class EncoderLayerNoSublayerDropout(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.self_attn(h, h, h, mask=mask)[0]
            return x + self.ff(self.norm2(x))
        x = self.norm1(x + self.self_attn(x, x, x, mask=mask)[0])
        return self.norm2(x + self.ff(x))


@mutant("EncoderLayer", bug="the FFN built without its dropout", cause=None)
class EncoderLayerFeedForwardWithoutDropout(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="post-norm written as x + norm(sublayer(x))", cause=None)
class EncoderLayerNormOnSublayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)  # noqa: F821
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)  # noqa: F821
        self.norm1, self.norm2 = tc.blocks.LayerNorm(d_model), tc.blocks.LayerNorm(d_model)  # noqa: F821
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = x + self.norm1(self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return x + self.norm2(self.dropout2(self.ff(x)))


@mutant("EncoderLayer", bug="subclasses the library's layer", cause=None)
class EncoderLayerLibrary(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, norm_first=False):
        super().__init__()
        inner = tc.blocks.EncoderLayer(d_model, n_heads, d_ff, dropout=dropout, norm_first=norm_first)  # noqa: F821
        self.inner = inner
        self.self_attn, self.ff, self.norm1, self.norm2 = inner.self_attn, inner.ff, inner.norm1, inner.norm2
        self.dropout1, self.dropout2 = inner.dropout1, inner.dropout2

    def forward(self, x, mask=None):
        return self.inner(x, mask=mask)


# ---------------------------------------------------------------- encoder_layer_parameter_count

@correct("encoder_layer_parameter_count")
def count_by_linear_layers(d_model, d_ff, bias=True):
    def linear(n_in, n_out):
        return n_in * n_out + (n_out if bias else 0)
    layer_norm = d_model * (2 if bias else 1)
    return 4 * linear(d_model, d_model) + linear(d_model, d_ff) + linear(d_ff, d_model) + 2 * layer_norm


@correct("encoder_layer_parameter_count")
def count_expanded(d_model, d_ff, bias=True):
    total = 4 * d_model ** 2 + 2 * d_model * d_ff + 2 * d_model   # weights and the two gains
    if bias:
        total += 4 * d_model + d_ff + d_model + 2 * d_model         # projections, FFN, LayerNorm shifts
    return int(total)


@mutant("encoder_layer_parameter_count", bug="assumes d_ff = 4 d_model", cause="d_ff", names="use d_ff itself")
def count_ignores_d_ff(d_model, d_ff, bias=True):
    b = 1 if bias else 0
    return 4 * (d_model * d_model + b * d_model) + 2 * d_model * 4 * d_model + b * 5 * d_model + 2 * d_model * (1 + b)


@mutant("encoder_layer_parameter_count", bug="forgets the LayerNorms", cause="LayerNorms are missing",
        names="LayerNorms are missing")
def count_no_norms(d_model, d_ff, bias=True):
    b = 1 if bias else 0
    return 4 * (d_model * d_model + b * d_model) + 2 * d_model * d_ff + b * (d_ff + d_model)


@mutant("encoder_layer_parameter_count", bug="three projections (W_O forgotten)", cause="output projection",
        names="output projection")
def count_no_output_projection(d_model, d_ff, bias=True):
    b = 1 if bias else 0
    return 3 * (d_model * d_model + b * d_model) + 2 * d_model * d_ff + b * (d_ff + d_model) + 2 * d_model * (1 + b)


@mutant("encoder_layer_parameter_count", bug="bias=False also drops the LayerNorm gains",
        cause=("LayerNorms", "gains"))
def count_drops_gains(d_model, d_ff, bias=True):
    attention = 4 * d_model * d_model + (4 * d_model if bias else 0)
    feed_forward = 2 * d_model * d_ff + ((d_ff + d_model) if bias else 0)
    return attention + feed_forward + (4 * d_model if bias else 0)


@mutant("encoder_layer_parameter_count", bug="ignores the bias argument", cause="counted even when",
        names="counted even when")
def count_ignores_bias(d_model, d_ff, bias=True):
    return 4 * d_model * d_model + 4 * d_model + 2 * d_model * d_ff + d_ff + d_model + 4 * d_model


@mutant("encoder_layer_parameter_count", bug="first FFN bias sized d_model", cause="first FFN bias",
        names="first FFN bias")
def count_wrong_ffn_bias(d_model, d_ff, bias=True):
    b = 1 if bias else 0
    return 4 * (d_model * d_model + b * d_model) + 2 * d_model * d_ff + b * 2 * d_model + 2 * d_model * (1 + b)


@mutant("encoder_layer_parameter_count", bug="builds PyTorch's layer and counts", cause=None)
def count_by_building(d_model, d_ff, bias=True):
    layer = nn.TransformerEncoderLayer(d_model, 1, d_ff, bias=bias)
    return sum(p.numel() for p in layer.parameters())


@mutant("encoder_layer_parameter_count", bug="returns a float (divides with /)", cause=None)
def count_float(d_model, d_ff, bias=True):
    b = 1 if bias else 0
    return 4 * (d_model * d_model + b * d_model) + 2 * d_model * d_ff + b * (d_ff + d_model) + 4 * d_model * (1 + b) / 2
