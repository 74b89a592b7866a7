"""Retrieval metrics over ranked hit labels: a hit is relevant when its label equals the query's."""

from collections.abc import Sequence

from ocularis.errors import ConfigError, DataError


def retrieval_metrics(hit_labels: Sequence[Sequence[str | None]], query_labels: Sequence[str | None],
                      relevant_counts: Sequence[int], k: int) -> dict[str, float]:
    """Precision, recall and mAP at k, averaged over queries.

    For one query with ranked hits h_1, h_2 ..., rel_i = 1 when h_i's label is the query's, and R =
    relevant_counts[q], the number of relevant items in the database (leave the query itself out of both when it
    is indexed):

    - precision@k = sum_{i<=k} rel_i / k (k even when fewer hits came back: missing hits count as wrong);
    - recall@k = sum_{i<=k} rel_i / R;
    - AP@k = sum_{i<=k} precision@i x rel_i / min(R, k), so missing a relevant item that fitted in the top k costs.

    A query with R = 0 scores 0 on all three. torchmetrics' RetrievalPrecision and RetrievalRecall (top_k=k) agree;
    its RetrievalMAP divides by the relevant items found in the top k instead of min(R, k).
    """
    if k < 1:
        raise ConfigError(f"k={k} must be at least 1")
    if not query_labels:
        raise DataError("retrieval_metrics got no queries; pass one list of hit labels per query")
    if not len(hit_labels) == len(query_labels) == len(relevant_counts):
        raise DataError(f"retrieval_metrics got {len(hit_labels)} hit lists, {len(query_labels)} query labels and "
                        f"{len(relevant_counts)} relevant counts; pass one of each per query")
    precision = recall = average_precision = 0.0
    for row, (hits, wanted, total) in enumerate(zip(hit_labels, query_labels, relevant_counts, strict=True)):
        relevant = [label == wanted for label in list(hits)[:k]]
        found = sum(relevant)
        if found > total:
            raise DataError(f"query {row} has {found} relevant hits in its top {k} but relevant_counts[{row}] is "
                            f"{total}; count the relevant items in the database")
        if total == 0:
            continue
        precision += found / k
        recall += found / total
        hits_so_far, summed = 0, 0.0
        for rank, is_relevant in enumerate(relevant, start=1):
            if is_relevant:
                hits_so_far += 1
                summed += hits_so_far / rank
        average_precision += summed / min(total, k)
    queries = len(query_labels)
    return {f"precision@{k}": precision / queries, f"recall@{k}": recall / queries,
            f"map@{k}": average_precision / queries}
