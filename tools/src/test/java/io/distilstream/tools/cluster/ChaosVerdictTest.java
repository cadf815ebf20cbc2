package io.distilstream.tools.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.schemas.TextEvent;
import io.distilstream.schemas.TextEvents;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The unit-level pieces of {@code chaos}'s hostile corpus, without a cluster: the built-in kinds, loading
 * {@code --hostile DIR}, and the verdict over dead letters and results.
 */
class ChaosVerdictTest {
  @Test
  void builtInCorpusHasEveryKindWithItsOutcome() {
    List<HostileCorpus.Hostile> withFillMask = HostileCorpus.first(HostileCorpus.KINDS.size(),
        List.of("text-classification", "fill-mask"));
    assertThat(withFillMask).extracting(HostileCorpus.Hostile::kind).containsExactlyElementsOf(HostileCorpus.KINDS);
    Map<String, HostileCorpus.Hostile> byKind = new HashMap<>();
    withFillMask.forEach(h -> byKind.put(h.kind(), h));
    assertThat(byKind.get("avro-string-length-2^31").value()).hasSize(16);
    assertThat(byKind.get("avro-string-length-2^31").reason()).isEqualTo("MALFORMED_EVENT");
    assertThat(byKind.get("60k-unknown-tasks").reason()).isEqualTo("UNKNOWN_TASK");
    assertThat(byKind.get("fill-mask-510-masks").reason()).isEqualTo("LIMIT_EXCEEDED");
    // no multiple-choice model in this job: the task is unknown to it
    assertThat(byKind.get("multiple-choice-10k-choices").reason()).isEqualTo("UNKNOWN_TASK");
    assertThat(byKind.get("same-task-1000-times").ok()).isTrue();
    assertThat(byKind.get("same-task-1000-times").tasks()).containsExactly("text-classification");
    assertThat(byKind.get("lone-surrogate-escapes").ok()).isTrue();
    assertThat(new String(byKind.get("lone-surrogate-escapes").value(), StandardCharsets.UTF_8)).contains("\\ud800");
    for (HostileCorpus.Hostile h : withFillMask) {
      assertThat(h.ok()).as(h.kind()).isEqualTo(HostileCorpus.OK_KINDS.contains(h.kind()));
    }
    // the harness reads no length it has not checked: the 2^31 string is no id
    assertThat(HostileCorpus.sniffId(byKind.get("avro-string-length-2^31").value())).isNull();
  }

  @Test
  void hostileDirectoryFilesNameTheirOutcome(@TempDir Path dir) throws Exception {
    Files.write(dir.resolve("bad-avro.MALFORMED_EVENT"), new byte[] {(byte) 0xC3, 0x01, 9, 9});
    Files.writeString(dir.resolve("dupes.ok"),
        "{\"id\":\"d1\",\"text\":\"hi\",\"tasks\":[\"sentiment-analysis\",\"text-classification\",\"ner\"]}");
    Files.write(dir.resolve("avro.TEXT_TOO_LONG"), TextEvents.encode(TextEvent.newBuilder().setId("a1")
        .setText("long").build()));
    Files.writeString(dir.resolve("plain.INVALID_INPUT"), "   ");
    List<HostileCorpus.Hostile> h = HostileCorpus.fromDirectory(dir);
    assertThat(h).extracting(HostileCorpus.Hostile::kind)
        .containsExactly("file:avro", "file:bad-avro", "file:dupes", "file:plain");
    assertThat(h).extracting(HostileCorpus.Hostile::reason)
        .containsExactly("TEXT_TOO_LONG", "MALFORMED_EVENT", "ok", "INVALID_INPUT");
    assertThat(h).extracting(HostileCorpus.Hostile::id).containsExactly("a1", null, "d1", null);
    // aliases collapse: one result per distinct task
    assertThat(h.get(2).tasks()).containsExactly("text-classification", "token-classification");

    Files.writeString(dir.resolve("none.ok"), "{\"id\":\"n\",\"text\":\"no tasks\"}");
    assertThatThrownBy(() -> HostileCorpus.fromDirectory(dir)).hasMessageContaining("names no task");
    Files.delete(dir.resolve("none.ok"));
    Files.writeString(dir.resolve("noreason"), "x");
    assertThatThrownBy(() -> HostileCorpus.fromDirectory(dir)).hasMessageContaining("NAME.REASON");
  }

  @Test
  void verdictCountsEachHostileRecordOnce() {
    byte[] garbage = {(byte) 0xC3, 0x01, 1, 2, 3};
    List<HostileCorpus.Hostile> hostile = List.of(
        new HostileCorpus.Hostile("unknown", "u1", new byte[] {1}, "UNKNOWN_TASK"),
        new HostileCorpus.Hostile("garbage", null, garbage, "MALFORMED_EVENT"),
        new HostileCorpus.Hostile("garbage", null, garbage.clone(), "MALFORMED_EVENT"),
        new HostileCorpus.Hostile("plain", null, "  ".getBytes(StandardCharsets.UTF_8), "INVALID_INPUT"),
        new HostileCorpus.Hostile("dupes", "ok1", new byte[] {2}, HostileCorpus.OK,
            List.of("text-classification", "token-classification")));
    Map<Integer, String> coordinates = Map.of(3, "text-events-0-7");
    List<ResultCounter.Dead> dead = new ArrayList<>(List.of(
        dead("u1", "UNKNOWN_TASK", null),
        dead(null, "MALFORMED_EVENT", garbage),
        dead(null, "MALFORMED_EVENT", garbage),
        dead("text-events-0-7", "INVALID_INPUT", null)));
    Map<String, Map<String, Integer>> counts = new HashMap<>();
    counts.put("text-classification", new HashMap<>(Map.of("ok1", 1)));
    counts.put("token-classification", new HashMap<>(Map.of("ok1", 1)));

    ChaosVerifier.HostileVerdict v = ChaosVerifier.judgeHostile(hostile, coordinates, dead, counts);
    assertThat(v.lost()).isZero();
    assertThat(v.duplicated()).isZero();
    assertThat(v.wrong()).isEmpty();
    assertThat(v.kindsDeadLettered()).containsOnlyKeys("unknown", "garbage", "plain");
    assertThat(v.okTasksById()).containsOnlyKeys("ok1");

    // one dead letter per unknown task name, a result missing, one doubled, an enriched record dead-lettered
    dead.add(dead("u1", "UNKNOWN_TASK", null));
    dead.add(dead("ok1", "TEXT_TOO_LONG", null));
    dead.add(dead("stranger", "MODEL_ERROR", null));
    counts.get("text-classification").put("ok1", 2);
    counts.get("token-classification").remove("ok1");
    v = ChaosVerifier.judgeHostile(hostile, coordinates, dead, counts);
    assertThat(v.duplicated()).isEqualTo(2);
    assertThat(v.lost()).isEqualTo(1);
    assertThat(v.wrong()).hasSize(2).anyMatch(w -> w.startsWith("dupes ok1: reason TEXT_TOO_LONG"))
        .anyMatch(w -> w.startsWith("not hostile: id=stranger"));

    // a garbage copy never dead-lettered, and the id-less text not yet produced
    v = ChaosVerifier.judgeHostile(hostile, Map.of(), List.of(dead("u1", "UNKNOWN_TASK", null),
        dead(null, "MALFORMED_EVENT", garbage)), counts);
    assertThat(v.lost()).isEqualTo(1 + 1 + 1); // garbage copy, the text, token-classification of ok1
  }

  private static ResultCounter.Dead dead(String id, String reason, byte[] original) {
    return new ResultCounter.Dead(id, reason, "decode", ByteBuffer.wrap(original == null ? new byte[0] : original));
  }
}
