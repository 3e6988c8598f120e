"""Sliding windows and max-context scoring, worked out by hand from the original run_squad."""

from bert_tf.data.windows import context_score, max_context_windows, window_spans


def test_window_spans():
    assert window_spans(0, 4, 2) == []                # nothing to cover
    assert window_spans(3, 4, 2) == [(0, 3)]           # fits in one window
    assert window_spans(4, 4, 2) == [(0, 4)]           # exactly one window
    assert window_spans(9, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 3)]
    assert window_spans(7, 4, 10) == [(0, 4), (4, 3)]  # stride capped at the window length


def test_context_score_is_min_side_plus_a_hundredth_of_the_length():
    assert context_score(3, 0, 4) == 0 + 0.04           # last piece: no right context
    assert context_score(3, 2, 4) == 1 + 0.04           # one left, two right -> 1
    assert context_score(5, 4, 5) == 1 + 0.05


def test_max_context_windows_by_hand():
    spans = [(0, 4), (2, 4), (4, 4), (6, 3)]
    # piece 2: windows 0 (min(2, 1)=1) and 1 (min(0, 3)=0) -> 0
    # piece 3: windows 0 (0) and 1 (1) -> 1; piece 4: 1 (min(2,1)=1) vs 2 (0) -> 1
    # piece 5: 1 (min(3,0)=0) vs 2 (1) -> 2; piece 6: 2 (min(2,1)=1.04) vs 3 (0.03) -> 2
    # piece 7: 2 (min(3,0)=0.04) vs 3 (min(1,1)=1.03) -> 3
    assert max_context_windows(spans, 9) == [0, 0, 0, 1, 1, 2, 2, 3, 3]


def test_ties_go_to_the_first_window():
    # Piece 2 of 5 in windows (0, 4) and (1, 4): scores min(2,1) and min(1,2), both 1.04.
    assert max_context_windows([(0, 4), (1, 4)], 5)[2] == 0
    assert max_context_windows([(0, 3)], 3) == [0, 0, 0]
