"""Notebook 10: alternative answers, right and wrong (see variants.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "10_fine_tuning"


# --------------------------------------------------------------------------- Exercise 1: SentimentClassifier
@correct("sentiment_classifier")
class ClassifierMaskedFill(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert = bert
        self.pooling = pooling
        self.dropout = nn.Dropout(p=dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        sequence_output, pooled_output = self.bert(input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            vector = pooled_output
        elif self.pooling == "cls":
            vector = sequence_output[:, 0, :]
        elif attention_mask is None:
            vector = sequence_output.mean(dim=1)
        else:
            keep = attention_mask.bool().unsqueeze(-1)
            vector = sequence_output.masked_fill(~keep, 0.0).sum(dim=1) / keep.sum(dim=1)
        logits = self.classifier(self.dropout(vector))
        return logits, (None if labels is None else nn.CrossEntropyLoss()(logits, labels))


@correct("sentiment_classifier")
class ClassifierEinsum(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels, bias=True)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        out = self.bert(input_ids, attention_mask=attention_mask)
        h = out[0]
        vectors = {"pooler": lambda: out[1], "cls": lambda: h[:, 0]}
        if self.pooling in vectors:
            v = vectors[self.pooling]()
        else:
            m = h.new_ones(h.shape[:2]) if attention_mask is None else attention_mask.to(h.dtype)
            v = torch.einsum("bth,bt->bh", h, m) / m.sum(-1, keepdim=True)
        logits = self.classifier(self.dropout(v))
        loss = None
        if labels is not None:
            loss = F.nll_loss(F.log_softmax(logits, dim=-1), labels)
        return logits, loss


@mutant("sentiment_classifier", bug="mean over every position, padding included", cause="padding",
        names="the mean includes the padding positions")
class ClassifierMeanOverPadding(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        vector = {"pooler": pooled, "cls": hidden[:, 0]}.get(self.pooling, hidden.mean(1))
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="masked sum divided by the padded length T", cause="padded length",
        names="divided by the padded length")
class ClassifierDividedByT(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            vector = pooled
        elif self.pooling == "cls":
            vector = hidden[:, 0]
        else:
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
            vector = (hidden * mask.unsqueeze(-1)).sum(1) / hidden.shape[1]
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="the mask passed by position, so BertModel reads it as token_type_ids",
        cause="positional argument", names="second positional argument")
class ClassifierPositionalMask(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask)
        if self.pooling == "pooler":
            vector = pooled
        elif self.pooling == "cls":
            vector = hidden[:, 0]
        else:
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).float()
            vector = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="pooling='cls' reads the pooled output", cause="pooling='cls'",
        names="pooling='cls' returned the pooler's output")
class ClassifierClsIsPooler(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        if self.pooling in ("pooler", "cls"):  # "the [CLS] vector" taken to be the pooled one
            vector = pooled
        else:
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).float()
            vector = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="self.dropout created but never applied", cause="dropout",
        names="the dropout is never applied")
class ClassifierNoDropout(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            vector = pooled
        elif self.pooling == "cls":
            vector = hidden[:, 0]
        else:
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).float()
            vector = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        logits = self.classifier(vector)
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="the encoder runs under torch.no_grad(), so it never trains", cause=None)
class ClassifierEncoderNoGrad(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        with torch.no_grad():  # "the encoder is pretrained already"
            hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            vector = pooled
        elif self.pooling == "cls":
            vector = hidden[:, 0]
        else:
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).float()
            vector = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


@mutant("sentiment_classifier", bug="calls the library's mean_pool instead of writing the masked mean", cause=None)
class ClassifierLibraryMean(nn.Module):
    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1):
        super().__init__()
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, *, attention_mask=None, labels=None):
        hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)
        vector = {"pooler": pooled, "cls": hidden[:, 0]}.get(self.pooling)
        if vector is None:
            vector = tc.bert.mean_pool(hidden, attention_mask)
        logits = self.classifier(self.dropout(vector))
        return logits, F.cross_entropy(logits, labels) if labels is not None else None


# --------------------------------------------------------------------------- Exercise 2: fine_tune
@correct("fine_tune")
def fine_tune_lambda_lr(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)

    def factor(s):
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        return (steps - s) / max(1, steps - warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    losses = []
    for _ in range(steps):
        logits, loss = model(**batches())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decay + no_decay, max_grad_norm)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss))
    return losses


@correct("fine_tune")
def fine_tune_manual_clip(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in params if len(p.shape) >= 2]
    vectors = [p for p in params if len(p.shape) < 2]
    optimizer = torch.optim.AdamW([dict(params=matrices, weight_decay=weight_decay),
                                   dict(params=vectors, weight_decay=0.0)], lr=lr)
    losses = []
    for s in range(steps):
        model.train()
        optimizer.zero_grad()
        scale = min((s + 1) / warmup_steps, 1.0) if s < warmup_steps else 1 - (s - warmup_steps) / (steps - warmup_steps)
        for g in optimizer.param_groups:
            g["lr"] = lr * scale
        loss = model(**batches())[1]
        loss.backward()
        total = torch.sqrt(sum((p.grad.detach() ** 2).sum() for p in params if p.grad is not None))
        coefficient = max_grad_norm / (total + 1e-6)
        if coefficient < 1:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(coefficient)
        optimizer.step()
        losses.append(loss.detach().item())
    return losses


@mutant("fine_tune", bug="never calls model.train(); the model stays in eval mode, dropout off",
        cause="training mode", names="never put in training mode")
def fine_tune_no_train_mode(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    for s in range(steps):
        rate = lr * (s + 1) / warmup_steps if s < warmup_steps else lr * (steps - s) / (steps - warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="no gradient clipping", cause="clipped", names="not clipped")
def fine_tune_no_clip(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    for s in range(steps):
        model.train()
        rate = lr * (s + 1) / warmup_steps if s < warmup_steps else lr * (steps - s) / (steps - warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="one parameter group: weight decay on biases and LayerNorm weights too",
        cause="weight decay", names="weight decay is applied to every parameter")
def fine_tune_decay_everything(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for s in range(steps):
        model.train()
        rate = lr * (s + 1) / warmup_steps if s < warmup_steps else lr * (steps - s) / (steps - warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="warmup from zero, as s / warmup_steps", cause="warmup", names="the warmup starts at 0")
def fine_tune_warmup_from_zero(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    for s in range(steps):
        model.train()
        rate = lr * s / warmup_steps if s < warmup_steps else lr * (steps - s) / (steps - warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="warmup, then a constant learning rate: the decay is missing", cause="after the warmup",
        names="stays at lr after the warmup")
def fine_tune_no_decay(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    for s in range(steps):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (s + 1) / warmup_steps) if warmup_steps else lr
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="the scheduler is stepped before the optimizer, so every step uses the next step's rate",
        cause="one step ahead", names="the schedule runs one step ahead")
def fine_tune_scheduler_first(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup_steps if s < warmup_steps else (steps - s) / max(1, steps - warmup_steps))
    model.train()
    losses = []
    for _ in range(steps):
        _, loss = model(**batches())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        scheduler.step()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="zero_grad between backward and step: every step is a zero-gradient step", cause=None)
def fine_tune_zero_grad_late(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    for s in range(steps):
        model.train()
        rate = lr * (s + 1) / warmup_steps if s < warmup_steps else lr * (steps - s) / (steps - warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        _, loss = model(**batches())
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.zero_grad()
        optimizer.step()
        losses.append(loss.item())
    return losses


@mutant("fine_tune", bug="calls the library's loop", cause=None)
def fine_tune_library(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01):
    return tc.train.fit(model, batches, steps=steps, lr=lr, warmup_steps=warmup_steps, schedule="linear",
                        grad_clip=max_grad_norm, weight_decay=weight_decay, device="cpu", progress=False).losses


# --------------------------------------------------------------------------- Exercise 3: evaluate_classifier
@correct("evaluate_classifier")
def evaluate_bincount(model, input_ids, attention_mask, labels, batch_size=256):
    mode = model.training
    model.eval()
    try:
        with torch.inference_mode():
            predictions = torch.cat([
                model(input_ids[i:i + batch_size], attention_mask=attention_mask[i:i + batch_size])[0].argmax(dim=-1)
                for i in range(0, input_ids.shape[0], batch_size)])
            num_classes = model(input_ids[:1], attention_mask=attention_mask[:1])[0].shape[-1]
    finally:
        model.train(mode)
    predictions, labels = predictions.cpu(), labels.cpu()
    confusion = torch.bincount(labels * num_classes + predictions, minlength=num_classes ** 2)
    return (predictions == labels).sum().item() / len(labels), confusion.reshape(num_classes, num_classes)


@correct("evaluate_classifier")
def evaluate_index_put(model, input_ids, attention_mask, labels, batch_size=256):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        chunks = []
        for start in range(0, len(labels), batch_size):
            stop = min(start + batch_size, len(labels))
            chunks.append(model(input_ids[start:stop], attention_mask=attention_mask[start:stop])[0].cpu())
    if was_training:
        model.train()
    logits = torch.cat(chunks)
    predicted = logits.argmax(1)
    confusion = torch.zeros(logits.shape[1], logits.shape[1], dtype=torch.int64)
    confusion.index_put_((labels.cpu(), predicted), torch.ones_like(predicted), accumulate=True)
    return confusion.trace().item() / confusion.sum().item(), confusion


@mutant("evaluate_classifier", bug="no model.eval(): dropout stays on while evaluating", cause="eval mode",
        names="not switched to eval mode")
def evaluate_in_training_mode(model, input_ids, attention_mask, labels, batch_size=256):
    with torch.no_grad():
        logits = torch.cat([model(input_ids[s:s + batch_size], attention_mask=attention_mask[s:s + batch_size])[0]
                            for s in range(0, len(input_ids), batch_size)])
    C = logits.shape[-1]
    predicted, labels = logits.argmax(-1).cpu(), labels.cpu()
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[t, p] += 1
    return (predicted == labels).float().mean().item(), confusion


@mutant("evaluate_classifier", bug="ends with model.train(), whatever mode the model was in", cause=None,
        names="restore the mode it was in")
def evaluate_always_train_after(model, input_ids, attention_mask, labels, batch_size=256):
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(input_ids[s:s + batch_size], attention_mask=attention_mask[s:s + batch_size])[0]
                            for s in range(0, len(input_ids), batch_size)])
    model.train()
    C = logits.shape[-1]
    predicted, labels = logits.argmax(-1).cpu(), labels.cpu()
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[t, p] += 1
    return (predicted == labels).float().mean().item(), confusion


@mutant("evaluate_classifier", bug="number of classes read off the labels", cause=None)
def evaluate_classes_from_labels(model, input_ids, attention_mask, labels, batch_size=256):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(input_ids[s:s + batch_size], attention_mask=attention_mask[s:s + batch_size])[0]
                            for s in range(0, len(input_ids), batch_size)])
    model.train(was_training)
    C = int(labels.max()) + 1
    predicted, labels = logits.argmax(-1).cpu(), labels.cpu()
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[t, p] += 1
    return (predicted == labels).float().mean().item(), confusion


@mutant("evaluate_classifier", bug="confusion[predicted, true] instead of confusion[true, predicted]",
        cause="transposed", names="transposed")
def evaluate_transposed(model, input_ids, attention_mask, labels, batch_size=256):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(input_ids[s:s + batch_size], attention_mask=attention_mask[s:s + batch_size])[0]
                            for s in range(0, len(input_ids), batch_size)])
    model.train(was_training)
    C = logits.shape[-1]
    predicted, labels = logits.argmax(-1).cpu(), labels.cpu()
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[p, t] += 1
    return (predicted == labels).float().mean().item(), confusion


@mutant("evaluate_classifier", bug="the attention mask is not passed to the model", cause="attention_mask",
        names="the attention_mask is not passed")
def evaluate_without_mask(model, input_ids, attention_mask, labels, batch_size=256):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(input_ids[s:s + batch_size])[0] for s in range(0, len(input_ids), batch_size)])
    model.train(was_training)
    C = logits.shape[-1]
    predicted, labels = logits.argmax(-1).cpu(), labels.cpu()
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[t, p] += 1
    return (predicted == labels).float().mean().item(), confusion


@mutant("evaluate_classifier", bug="accuracy as the mean of the chunks' accuracies", cause="chunks",
        names="the mean of the chunks' accuracies")
def evaluate_mean_of_chunks(model, input_ids, attention_mask, labels, batch_size=256):
    was_training = model.training
    model.eval()
    accuracies, chunks = [], []
    with torch.no_grad():
        for s in range(0, len(input_ids), batch_size):
            logits = model(input_ids[s:s + batch_size], attention_mask=attention_mask[s:s + batch_size])[0]
            chunks.append(logits.argmax(-1).cpu())
            accuracies.append((chunks[-1] == labels[s:s + batch_size].cpu()).float().mean().item())
    model.train(was_training)
    C = logits.shape[-1]
    predicted = torch.cat(chunks)
    confusion = torch.zeros(C, C, dtype=torch.long)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        confusion[t, p] += 1
    return sum(accuracies) / len(accuracies), confusion


@mutant("evaluate_classifier", bug="calls the library's evaluation", cause=None)
def evaluate_library(model, input_ids, attention_mask, labels, batch_size=256):
    return tc.bert.evaluate_classifier(model, input_ids, attention_mask, labels, batch_size)
