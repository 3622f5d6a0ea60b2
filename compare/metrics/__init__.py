"""One module per metric. Each works on plain arrays (features, images, histograms) so that it can
be checked against its reference implementation in isolation; compare.runner applies them to
image sets.
"""

from __future__ import annotations

from ussim.errors import UsageError


class MetricUndefined(UsageError):
    """A metric that these inputs cannot give (too few images, no pairs, images too small).

    The runner records NaN with this message as a note; a direct caller gets one clear line.
    """
