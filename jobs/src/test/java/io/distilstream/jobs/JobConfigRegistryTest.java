package io.distilstream.jobs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.jobs.kafka.AvroRecordSerializer;
import io.distilstream.jobs.kafka.EventDecoder;
import io.distilstream.jobs.kafka.SchemaRegistryClient;
import io.distilstream.jobs.kafka.SchemaRegistryClient.SubjectNameStrategy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The schema registry's options under Confluent's names, the formats that need them, and secrets kept out of logs. */
class JobConfigRegistryTest {
  private static Map<String, String> base() {
    Map<String, String> m = new HashMap<>();
    m.put("kafka.bootstrap.servers", "b:9092");
    return m;
  }

  @Test
  void theConfluentFormatsNeedARegistryUrl() {
    Map<String, String> in = base();
    in.put("input.format", "avro-confluent");
    assertThatThrownBy(() -> JobConfig.of(in)).hasMessage("input.format=avro-confluent needs schema.registry.url");
    Map<String, String> out = base();
    out.put("output.format", "avro-confluent");
    assertThatThrownBy(() -> JobConfig.of(out)).hasMessage("output.format=avro-confluent needs schema.registry.url");
    Map<String, String> bad = base();
    bad.put("output.format", "protobuf");
    assertThatThrownBy(() -> JobConfig.of(bad)).hasMessageContaining("output.format must be avro or avro-confluent");

    in.put("schema.registry.url", "http://r:8081");
    in.put("output.format", "avro-confluent");
    JobConfig cfg = JobConfig.of(in);
    assertThat(cfg.inputFormat()).isEqualTo(EventDecoder.Format.AVRO_CONFLUENT);
    assertThat(cfg.outputFormat()).isEqualTo(AvroRecordSerializer.Format.AVRO_CONFLUENT);
    assertThat(JobConfig.of(base()).outputFormat()).isEqualTo(AvroRecordSerializer.Format.AVRO);
    assertThat(JobConfig.of(base()).registrySettings()).isNull();
  }

  @Test
  void settingsFollowConfluentsNames() {
    Map<String, String> m = base();
    m.put("schema.registry.url", "https://a.example:8081/, https://b.example:8081/apis/ccompat/v7");
    m.put("basic.auth.credentials.source", "USER_INFO");
    m.put("basic.auth.user.info", "svc:s3cret");
    m.put("auto.register.schemas", "false");
    m.put("value.subject.name.strategy", "io.confluent.kafka.serializers.subject.RecordNameStrategy");
    m.put("schema.registry.cache.capacity", "50");
    SchemaRegistryClient.Settings s = JobConfig.of(m).registrySettings();
    assertThat(s.urls()).containsExactly("https://a.example:8081", "https://b.example:8081/apis/ccompat/v7");
    assertThat(s.userInfo()).isEqualTo("svc:s3cret");
    assertThat(s.autoRegister()).isFalse();
    assertThat(s.subjectStrategy()).isEqualTo(SubjectNameStrategy.RECORD);
    assertThat(s.cacheCapacity()).isEqualTo(50);
    assertThat(s.toString()).doesNotContain("s3cret");

    Map<String, String> url = base();
    url.put("schema.registry.url", "http://svc:pw@r:8081");
    url.put("basic.auth.credentials.source", "URL");
    SchemaRegistryClient.Settings fromUrl = JobConfig.of(url).registrySettings();
    assertThat(fromUrl.userInfo()).isEqualTo("svc:pw");
    assertThat(fromUrl.urls()).containsExactly("http://r:8081");
    assertThat(JobConfig.of(url).describe()).contains("schema.registry.url = http://******@r:8081")
        .doesNotContain("pw");
    assertThat(JobConfig.of(m).describe()).contains("basic.auth.user.info = ******").doesNotContain("s3cret");
  }

  @Test
  void subjectStrategiesNameSubjectsAsConfluentDoes() {
    org.apache.avro.Schema s = io.distilstream.schemas.DeadLetter.getClassSchema();
    assertThat(List.of("topic", "record", "topic-record", "TopicNameStrategy", "TopicRecordNameStrategy").stream()
        .map(n -> SubjectNameStrategy.parse(n).subject("dl", s)))
        .containsExactly("dl-value", "io.distilstream.schemas.DeadLetter", "dl-io.distilstream.schemas.DeadLetter",
            "dl-value", "dl-io.distilstream.schemas.DeadLetter");
    assertThatThrownBy(() -> SubjectNameStrategy.parse("wire")).hasMessageContaining("topic, record or topic-record");
    Map<String, String> m = base();
    m.put("schema.registry.url", "ftp://r");
    assertThatThrownBy(() -> JobConfig.of(m)).hasMessageContaining("must hold http(s) URLs");
  }
}
