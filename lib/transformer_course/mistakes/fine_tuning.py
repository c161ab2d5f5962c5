"""Notebook 10's common wrong answers: one dict per exercise (see the package docstring).

Each entry has its exercise's signature (a class for ``SentimentClassifier``, a
function for the others) and makes exactly the mistake its explanation names.
"""
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------- Exercise 1: SentimentClassifier
class _Classifier(nn.Module):
    """The classifier of exercise 1 with one mistake switched on."""

    def __init__(self, bert, num_labels=2, pooling="mean", dropout=0.1, *, mistake):
        super().__init__()
        self.bert, self.pooling, self.mistake = bert, pooling, mistake
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask=None, labels=None):
        if self.mistake == "positional mask":
            hidden, pooled = self.bert(input_ids, attention_mask)[:2]
        else:
            hidden, pooled = self.bert(input_ids, attention_mask=attention_mask)[:2]
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        if self.pooling == "pooler":
            if self.mistake == "pooler is cls":
                vector = hidden[:, 0]
            elif self.mistake == "pooler without bias":
                vector = torch.tanh(hidden[:, 0] @ self.bert.pooler.weight.T)
            else:
                vector = pooled
        elif self.pooling == "cls":
            vector = pooled if self.mistake == "cls is pooler" else hidden[:, 0]
        elif self.mistake == "mean over padding":
            vector = hidden.mean(1)
        elif self.mistake == "mean divided by T":
            vector = (hidden * weights).sum(1) / hidden.shape[1]
        else:
            vector = (hidden * weights).sum(1) / weights.sum(1)
        if self.mistake == "no dropout":
            logits = self.classifier(vector)
        elif self.mistake == "dropout on logits":
            logits = self.dropout(self.classifier(vector))
        else:
            logits = self.classifier(self.dropout(vector))
        return logits, (F.cross_entropy(logits, labels) if labels is not None else None)


SENTIMENT_CLASSIFIER = {
    "the mean includes the padding positions: weight each position by attention_mask and divide by the "
    "number of real tokens": partial(_Classifier, mistake="mean over padding"),
    "the masked sum is divided by the padded length T; divide each sentence's sum by its own number of real "
    "tokens (attention_mask.sum(1))": partial(_Classifier, mistake="mean divided by T"),
    "the mask reached the encoder as its second positional argument, which BertModel reads as token_type_ids "
    "(segment ids); pass it by keyword, attention_mask=...": partial(_Classifier, mistake="positional mask"),
    "pooling='cls' returned the pooler's output; 'cls' is the final [CLS] vector itself, "
    "sequence_output[:, 0]": partial(_Classifier, mistake="cls is pooler"),
    "pooling='pooler' read sequence_output[:, 0]; the pooled output is the encoder's second output, tanh of "
    "the pooler's dense layer on that vector": partial(_Classifier, mistake="pooler is cls"),
    "the pooler was rewritten by hand without its bias; use the encoder's own pooled output":
        partial(_Classifier, mistake="pooler without bias"),
    "the dropout is never applied in forward: in training mode the sentence vector goes through "
    "self.dropout before the classifier": partial(_Classifier, mistake="no dropout"),
    "the dropout is applied to the logits; it belongs on the sentence vector, before the classifier":
        partial(_Classifier, mistake="dropout on logits"),
}


# --------------------------------------------------------------------------- Exercise 2: fine_tune
def _loop(model, batches, steps, lr, warmup_steps, max_grad_norm=1.0, weight_decay=0.01, *, mistake):
    """The loop of exercise 2 with one mistake switched on."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = ([{"params": params, "weight_decay": weight_decay}] if mistake == "decay all" else
              [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
               {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}])
    optimizer = torch.optim.AdamW(groups, lr=lr)

    def rate(s):
        if mistake == "schedule one step ahead":
            s += 1
        if s < warmup_steps:
            return lr * (s if mistake == "warmup from zero" else s + 1) / warmup_steps
        return lr if mistake == "no decay" else lr * (steps - s) / (steps - warmup_steps)

    losses = []
    if mistake != "never train mode":
        model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = rate(step)
        _, loss = model(**batches())
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        if mistake not in ("no clipping", "clip after step"):
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        if mistake == "clip after step":
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        losses.append(loss.item())
    return losses


FINE_TUNE = {
    "the model is never put in training mode (model.train()), so its dropout stays off while it trains":
        partial(_loop, mistake="never train mode"),
    "the gradient is not clipped to max_grad_norm": partial(_loop, mistake="no clipping"),
    "the gradient is clipped after optimizer.step(), when the step has already used it":
        partial(_loop, mistake="clip after step"),
    "weight decay is applied to every parameter; biases and LayerNorm weights (dim() < 2) get none":
        partial(_loop, mistake="decay all"),
    "the warmup starts at 0: step s uses (s + 1) / warmup_steps, so the first step already moves":
        partial(_loop, mistake="warmup from zero"),
    "the learning rate stays at lr after the warmup; it should fall in a straight line, "
    "lr * (steps - s) / (steps - warmup_steps)": partial(_loop, mistake="no decay"),
    "the schedule runs one step ahead: step s must use the rate of step s (set it, or step the scheduler, "
    "after the optimizer step of step s - 1, not before step s's own)": partial(_loop, mistake="schedule one step ahead"),
    "the gradients are never zeroed, so they accumulate across steps": partial(_loop, mistake="no zero_grad"),
}


# --------------------------------------------------------------------------- Exercise 3: evaluate_classifier
def _evaluate(model, input_ids, attention_mask, labels, batch_size=256, *, mistake):
    """The evaluation of exercise 3 with one mistake switched on (the mode is restored in every case)."""
    was_training = model.training
    if mistake != "no eval mode":
        model.eval()
    try:
        with torch.no_grad():
            chunks = [model(input_ids[s:s + batch_size], attention_mask=None if mistake == "no mask" else
                            attention_mask[s:s + batch_size])[0] for s in range(0, len(input_ids), batch_size)]
    finally:
        model.train(was_training)
    preds, labels = torch.cat(chunks).argmax(-1).cpu(), labels.cpu()
    C = int(labels.max()) + 1 if mistake == "classes from labels" else chunks[0].shape[-1]
    confusion = torch.bincount(labels * C + preds.clamp(max=C - 1), minlength=C * C).view(C, C) \
        if mistake == "classes from labels" else torch.bincount(labels * C + preds, minlength=C * C).view(C, C)
    if mistake == "transposed":
        confusion = confusion.T
    if mistake == "mean of chunk accuracies":
        right = (preds == labels).float()
        accuracy = torch.stack([right[s:s + batch_size].mean() for s in range(0, len(right), batch_size)]).mean().item()
    else:
        accuracy = (preds == labels).float().mean().item()
    return accuracy, confusion


EVALUATE_CLASSIFIER = {
    "the model is not switched to eval mode, so dropout changes its predictions":
        partial(_evaluate, mistake="no eval mode"),
    "the attention_mask is not passed to the model, so padding changes its predictions":
        partial(_evaluate, mistake="no mask"),
    "the number of classes is read off the labels (labels.max() + 1); a set of labels need not contain every "
    "class: take it from the number of logits": partial(_evaluate, mistake="classes from labels"),
    "the confusion matrix is transposed: rows are the TRUE classes, columns the predictions":
        partial(_evaluate, mistake="transposed"),
    "the accuracy is the mean of the chunks' accuracies; the last chunk is smaller, so count the right "
    "answers over all examples": partial(_evaluate, mistake="mean of chunk accuracies"),
}
