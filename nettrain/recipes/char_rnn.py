"""A character-level LSTM language model over a text file.

The default text is a few of Shakespeare's sonnets embedded in nettrain; train on
your own with ``--set text=book.txt``.  The model predicts each next character.

    nettrain train char_rnn
    nettrain train char_rnn --set text=book.txt --set seq_len=100 --epochs 50
    nettrain sample char_rnn runs/char_rnn/version_0/last.h5 --length 500 --temperature 0.8 --prime "The "
"""

from nettrain import layers as L
from nettrain import losses, metrics
from nettrain.optimizers import Adam
from nettrain.train import char_sequences, load_text, train_val_split

CONFIG = dict(
    epochs=20,
    batch_size=32,
    lr=1e-2,
    seed=0,
    text="",  # a UTF-8 text file ("": the embedded sonnets)
    seq_len=32,  # characters per training sequence
    embed=32,
    hidden=128,
    clipnorm=5.0,  # global gradient-norm clipping, usual for recurrent nets
    val_fraction=0.1,  # held out for validation (0: none)
)


def vocabulary(config):
    """The characters the model predicts, in index order (``nettrain sample`` decodes with it)."""
    return load_text(config.text or None).vocab


def build(config):
    text, vocab, encoded = load_text(config.text or None)
    x, y = char_sequences(encoded, config.seq_len)  # y is x shifted by one character
    train, val = train_val_split(x, y, config.val_fraction, seed=config.seed)
    model = L.Sequential([
        L.Embedding(len(vocab), config.embed),
        L.LSTM(config.hidden, return_sequences=True, batch_first=True),  # (batch, time, hidden)
        L.Dense(len(vocab), in_units=config.hidden),  # logits for every position
    ], seed=config.seed)  # fmt: skip

    def per_char(fn):  # (batch, time, vocab) logits and (batch, time) targets -> one row per character
        return lambda out, y: fn(out.reshape((-1, len(vocab))), y.flatten())

    return dict(
        model=model,
        loss=per_char(losses.categorical_crossentropy),
        metrics={"acc": per_char(metrics.accuracy)},
        optimizer=Adam(config.lr, clipnorm=config.clipnorm),
        train=train,
        val=val,
    )
