"""Runs a runner script and kills it at a chosen point: the fault tests' hook.

    BERT_TF_KILL_AT=replace:model.ckpt-16.index python tests/kill_at.py run_classifier.py ...

The library holds no test code: this wrapper patches, in its own process only, a function
the runner calls, then runs the runner as `__main__`. BERT_TF_KILL_AT is `<point>:<arg>`:

  replace:<glob>[:<n>]  just before the n-th (default first) rename of a finished temporary
                        onto a path whose name matches <glob>: the temporary is complete but
                        not in place (a feature cache, a checkpoint's .index or .data, the
                        `checkpoint` state file, eval_results.txt, test_results.tsv, the
                        export directory).
  record:<n>            while the feature cache's n-th record is being made: its temporary
                        is half-written.
  train_loop:<n>        before the n-th call of the training loop: the steps since the last
                        checkpoint are lost.
  predict:<n>           before the n-th batch of evaluation / prediction.

The process sends itself SIGKILL there, or the signal BERT_TF_KILL_SIGNAL names (`INT`: the
Ctrl-C of a user, which Python raises as KeyboardInterrupt right there, in the main thread).
Without BERT_TF_KILL_AT the runner runs as usual.

Whether killed or not, before each call of the training loop the wrapper writes the step of
the engine's optimizer (its `iterations`) on stderr, so a test sees that a resumed run's
optimizer counts on from its checkpoint:

    kill_at: training loop call 1 starts at optimizer step 8
"""

import fnmatch
import os
import runpy
import signal
import sys


_signal = signal.SIGKILL  # main() sets BERT_TF_KILL_SIGNAL's


def _kill():
    os.kill(os.getpid(), _signal)


def _kill_on_call(n, function):
    """`function` wrapped to kill this process when it is called the n-th time."""
    calls = [0]

    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            _kill()
        return function(*args, **kwargs)
    return wrapped


def _report_optimizer_steps():
    """Makes each training loop the engine builds write its optimizer's step before each call."""
    from bert_tf.training.engine import Engine
    make = Engine._make_train_loop

    def make_reporting(self, *args):
        train_loop, calls = make(self, *args), [0]

        def reporting(*loop_args, **kwargs):
            calls[0] += 1
            sys.stderr.write(f"kill_at: training loop call {calls[0]} starts at optimizer "
                             f"step {int(self.optimizer.iterations.numpy())}\n")
            return train_loop(*loop_args, **kwargs)
        return reporting
    Engine._make_train_loop = make_reporting


def _install(point, arg):
    if point == "replace":
        pattern, _, n = arg.partition(":")
        replace, seen = os.replace, [0]

        def killing_replace(src, dst, *args, **kwargs):
            if fnmatch.fnmatch(os.path.basename(os.fspath(dst)), pattern):
                seen[0] += 1
                if seen[0] == int(n or 1):
                    _kill()
            return replace(src, dst, *args, **kwargs)
        os.replace = killing_replace
    elif point == "record":
        from bert_tf.data import tfrecord
        tfrecord._example_proto = _kill_on_call(int(arg), tfrecord._example_proto)
    elif point in ("train_loop", "predict"):
        from bert_tf.training.engine import Engine
        maker = "_make_train_loop" if point == "train_loop" else "_make_predict_fn"
        make, n = getattr(Engine, maker), int(arg)

        def make_killing(self, *args):
            return _kill_on_call(n, make(self, *args))
        setattr(Engine, maker, make_killing)
    else:
        raise SystemExit(f"BERT_TF_KILL_AT={point}:{arg}: unknown point")


def main():
    global _signal
    # TensorFlow's start-up settings first, as the runner itself makes them before
    # anything imports TensorFlow (the patches below import the engine).
    import runner_env  # noqa: F401
    _report_optimizer_steps()
    point, _, arg = os.environ.get("BERT_TF_KILL_AT", "").partition(":")
    name = os.environ.get("BERT_TF_KILL_SIGNAL", "KILL")
    _signal = getattr(signal, f"SIG{name}", None)
    if not isinstance(_signal, signal.Signals):
        raise SystemExit(f"BERT_TF_KILL_SIGNAL={name}: not a signal (KILL, INT, TERM ...)")
    if point:
        _install(point, arg)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]  # the runner sees its own name as argv[0], as when run directly
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
