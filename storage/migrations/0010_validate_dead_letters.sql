-- 0010: dead letters of stage `validate`.
--
-- A ChirpStack event with a field of the wrong type or out of its range (an `fCnt` of "abc",
-- an `rxInfo` object instead of a list) is stored without that field, and its raw message is
-- kept as a `validate` dead letter naming the fields and the stored uplink
-- (`deduplication_id`), so the producer's error is on record, never silently normalised.
-- Stages in pipeline order: parse, validate, decode, store.
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_stage_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_stage_check
    CHECK (stage IN ('parse', 'validate', 'decode', 'store'));
