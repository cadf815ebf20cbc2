package io.distilstream.operators;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.distilstream.runtime.pipeline.Task;
import io.distilstream.schemas.TextEvent;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

/** The named models' keys ({@code inference.models.*}, {@code inference.routing.*}): parsing, validation, routing. */
class ModelsConfigTest {
  private static final String SEQ = TestModels.model(TestModels.SEQ_CLS).toString();
  private static final String TOKEN = TestModels.model(TestModels.TOKEN_CLS).toString();

  private static Map<String, String> threeModels() {
    Map<String, String> m = new HashMap<>();
    m.put("inference.models.toxicity.task", "text-classification");
    m.put("inference.models.toxicity.path", SEQ);
    m.put("inference.models.toxicity-de.task", "sentiment-analysis"); // an alias of text-classification
    m.put("inference.models.toxicity-de.path", SEQ);
    m.put("inference.models.toxicity-de.topic", "labels-de");
    m.put("inference.models.toxicity-v2.task", "text-classification");
    m.put("inference.models.toxicity-v2.path", SEQ);
    m.put("inference.models.toxicity-v2.shadows", "toxicity");
    m.put("inference.models.pii.task", "ner");
    m.put("inference.models.pii.path", TOKEN);
    return m;
  }

  private static InferenceSpec spec(Map<String, String> m) {
    return InferenceSpec.fromConfiguration(Configuration.fromMap(m));
  }

  @Test
  void namedModelsAreParsedInNameOrderAfterThePerTaskOnes() {
    Map<String, String> m = threeModels();
    m.put("inference.model.text-classification", SEQ);
    InferenceSpec spec = spec(m);
    assertThat(spec.models()).extracting(ModelSpec::name)
        .containsExactly("text-classification", "pii", "toxicity", "toxicity-de", "toxicity-v2");
    ModelSpec perTask = spec.model("text-classification");
    assertThat(perTask.perTaskKey()).isTrue();
    assertThat(perTask.topic()).isNull();
    ModelSpec de = spec.model("toxicity-de");
    assertThat(de.task()).isEqualTo(Task.TEXT_CLASSIFICATION);
    assertThat(de.topic()).isEqualTo("labels-de");
    assertThat(de.source()).isEqualTo(SEQ);
    assertThat(spec.model("pii").task()).isEqualTo(Task.TOKEN_CLASSIFICATION);
    assertThat(spec.model("toxicity-v2").shadows()).isEqualTo("toxicity");
    // defaults: every model that is no shadow
    assertThat(spec.routing().defaults())
        .containsExactly("text-classification", "pii", "toxicity", "toxicity-de");
    assertThat(spec.tasks()).containsExactly(Task.TEXT_CLASSIFICATION, Task.TOKEN_CLASSIFICATION);
  }

  @Test
  void thePerTaskKeysAloneAreOneModelPerTaskAsBefore() {
    InferenceSpec spec = spec(Map.of("inference.model.text-classification", SEQ,
        "inference.model.token-classification", TOKEN, "inference.default-tasks", "token-classification"));
    assertThat(spec.models()).extracting(ModelSpec::name)
        .containsExactly("text-classification", "token-classification");
    assertThat(spec.routing().defaults()).containsExactly("token-classification");
    assertThat(spec.defaultTasks()).containsExactly(Task.TOKEN_CLASSIFICATION);
  }

  @Test
  void defaultsAndRoutingRulesAreRead() {
    Map<String, String> m = threeModels();
    m.put("inference.models.default", "toxicity,pii");
    m.put("inference.routing.header", " x-models ");
    m.put("inference.routing.attribute.lang.de", "toxicity-de, pii");
    m.put("inference.routing.attribute.lang.en-US", "toxicity");
    InferenceSpec spec = spec(m);
    assertThat(spec.routing().defaults()).containsExactly("toxicity", "pii");
    assertThat(spec.routing().header()).isEqualTo("x-models");
    assertThat(spec.routing().attributeRules()).isEqualTo(Map.of("lang",
        Map.of("de", List.of("toxicity-de", "pii"), "en-US", List.of("toxicity"))));
  }

  @Test
  void routingFollowsModelsThenRulesThenTasksThenDefaults() {
    Map<String, String> m = threeModels();
    m.put("inference.models.default", "toxicity");
    m.put("inference.routing.attribute.lang.de", "toxicity-de");
    ModelRouting r = spec(m).routing();
    TextEvent.Builder e = TextEvent.newBuilder().setId("1").setText("t");
    // the event's own list wins, repeats collapse
    assertThat(r.select(e.setModels(List.of("pii", "toxicity-de", "pii")).setAttributes(Map.of("lang", "de")).build())
        .models()).extracting(ModelSpec::name).containsExactly("pii", "toxicity-de");
    // then the attribute rule
    assertThat(r.select(e.setModels(List.of()).build()).models()).extracting(ModelSpec::name)
        .containsExactly("toxicity-de");
    // then the tasks: a task selects its default models, or all of its models that are no shadow
    ModelRouting.Selection byTask = r.select(e.setAttributes(Map.of()).setTasks(List.of("text-classification",
        "ner", "fill-mask")).build());
    // (a shadow runs wherever its primary runs: toxicity-v2 after the primaries)
    assertThat(byTask.models()).extracting(ModelSpec::name).containsExactly("toxicity", "pii", "toxicity-v2");
    assertThat(byTask.unknownTasks()).containsExactly("fill-mask");
    // then the defaults, not explicit: a default model whose task does not apply is left out by the operator
    ModelRouting.Selection dflt = r.select(e.setTasks(List.of()).build());
    assertThat(dflt.models()).extracting(ModelSpec::name).containsExactly("toxicity", "toxicity-v2");
    assertThat(dflt.explicit()).isFalse();
  }

  @Test
  void unknownNamesAreCollectedBoundedAndQuoted() {
    ModelRouting r = spec(threeModels()).routing();
    String huge = "x".repeat(100_000);
    List<String> names = new java.util.ArrayList<>(List.of("toxicity", huge, "Toxicity", "toxicity-v2"));
    for (int i = 0; i < 1000; i++) {
      names.add("nope-" + i);
    }
    ModelRouting.Selection s = r.select(TextEvent.newBuilder().setId("1").setText("t").setModels(names).build());
    assertThat(s.models()).extracting(ModelSpec::name).containsExactly("toxicity", "toxicity-v2");
    // a shadow is not selected by name (it runs because its primary does); unknown names are kept distinct, each cut to a name's length
    assertThat(s.unknownModels()).hasSize(1003)
        .allSatisfy(n -> assertThat(n.length()).isLessThanOrEqualTo(ModelSpec.MAX_NAME_CHARS + 1));
    String message = r.unknownModelsMessage(s.unknownModels());
    assertThat(message).contains("'Toxicity'", "'toxicity-v2'", "and 998 more", "models: pii, toxicity, toxicity-de")
        .doesNotContain("nope-4").hasSizeLessThan(1000);
  }

  @Test
  void badDeclarationsFailAtSubmissionNamingTheKey() {
    Map<String, String> m = threeModels();
    m.put("inference.models.Toxic.task", "text-classification");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("'Toxic'").hasMessageContaining("[a-z0-9]");
    m.remove("inference.models.Toxic.task");
    m.put("inference.models.toxicity.pth", SEQ);
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.models.toxicity.pth")
        .hasMessageContaining("unknown property");
    m.remove("inference.models.toxicity.pth");
    m.remove("inference.models.pii.path");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.models.pii.path");
    m.put("inference.models.pii.path", "/no/such/model");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("/no/such/model");
    m.put("inference.models.pii.path", TOKEN);
    m.put("inference.models.pii.task", "summarization");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.models.pii.task");
    m.put("inference.models.pii.task", "ner");
    m.put("inference.model.text-classification", SEQ);
    m.put("inference.models.text-classification.task", "text-classification");
    m.put("inference.models.text-classification.path", SEQ);
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("declared twice");
  }

  @Test
  void shadowsMustShadowADeclaredPrimaryOfTheirTaskAndNeverChain() {
    Map<String, String> m = threeModels();
    m.put("inference.models.toxicity-v2.shadows", "missing");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.models.toxicity-v2.shadows")
        .hasMessageContaining("not declared");
    m.put("inference.models.toxicity-v2.shadows", "toxicity-v2");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("itself");
    m.put("inference.models.toxicity-v2.shadows", "pii");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("primary's task");
    m.put("inference.models.toxicity-v2.shadows", "toxicity");
    m.put("inference.models.toxicity-v3.task", "text-classification");
    m.put("inference.models.toxicity-v3.path", SEQ);
    m.put("inference.models.toxicity-v3.shadows", "toxicity-v2");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("itself a shadow");
    // two shadows of one primary are fine
    m.put("inference.models.toxicity-v3.shadows", "toxicity");
    assertThat(spec(m).models()).filteredOn(ModelSpec::isShadow).hasSize(2);
  }

  @Test
  void defaultsAndRulesNameDeclaredModelsThatAreNoShadows() {
    Map<String, String> m = threeModels();
    m.put("inference.models.default", "toxicity;nope");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.models.default")
        .hasMessageContaining("'nope'");
    m.put("inference.models.default", "toxicity-v2");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("a shadow");
    m.remove("inference.models.default");
    m.put("inference.routing.attribute.lang", "toxicity");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("<attribute>.<value>");
    m.remove("inference.routing.attribute.lang");
    m.put("inference.routing.attribute.lang.de", "toxicity-fr");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("inference.routing.attribute.lang.de")
        .hasMessageContaining("'toxicity-fr'");
    m.remove("inference.routing.attribute.lang.de");
    m.put("inference.default-tasks", "text-classification");
    m.put("inference.models.default", "toxicity");
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("not both");
  }

  @Test
  void theNumberOfModelsIsBounded() {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i <= InferenceOptions.MAX_MODELS; i++) {
      m.put("inference.models.m" + i + ".task", "text-classification");
      m.put("inference.models.m" + i + ".path", SEQ);
    }
    assertThatThrownBy(() -> spec(m)).hasMessageContaining("over " + InferenceOptions.MAX_MODELS);
  }
}
