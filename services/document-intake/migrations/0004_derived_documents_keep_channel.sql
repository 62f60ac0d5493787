-- document-intake: a split or merge result keeps the channel its document arrived by (merge: the first
-- document's); the spec knows four channels only. Results stored before as 'split' or 'merge' get their source's
-- channel, found through the audit log: a split's entry names its results; a merge's entry was written in the
-- transaction that inserted the result, so both carry the same now(). A result of a result walks back to the
-- first document that arrived by a channel; one whose source cannot be found becomes 'upload'.
WITH RECURSIVE edge (result_id, source_id) AS (
  SELECT result.id::uuid, log.subject_id::uuid
  FROM audit_log log CROSS JOIN LATERAL jsonb_array_elements_text(log.details -> 'results') AS result (id)
  WHERE log.action = 'document.split'
  UNION ALL
  SELECT merged.id, log.subject_id::uuid
  FROM audit_log log
  JOIN document merged
    ON merged.channel = 'merge' AND merged.dossier_id = log.dossier_id AND merged.created_at = log.occurred_at
  WHERE log.action = 'document.merged'
),
walk (document_id, at_id, depth) AS (
  SELECT id, id, 0 FROM document WHERE channel IN ('split', 'merge')
  UNION ALL
  SELECT walk.document_id, edge.source_id, walk.depth + 1
  FROM walk
  JOIN document here ON here.id = walk.at_id AND here.channel IN ('split', 'merge')
  JOIN edge ON edge.result_id = walk.at_id
  WHERE walk.depth < 100
),
arrived (document_id, channel) AS (
  SELECT DISTINCT ON (walk.document_id) walk.document_id, source.channel
  FROM walk JOIN document source ON source.id = walk.at_id AND source.channel NOT IN ('split', 'merge')
  ORDER BY walk.document_id, walk.depth
)
UPDATE document SET channel = coalesce((SELECT arrived.channel FROM arrived WHERE arrived.document_id = document.id), 'upload')
WHERE channel IN ('split', 'merge');

ALTER TABLE document DROP CONSTRAINT document_channel_check;
ALTER TABLE document ADD CONSTRAINT document_channel_check CHECK (channel IN ('upload', 'scan', 'email', 'api'));
