package io.distilstream.e2e;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module arrows of the developers' guide as rules over the main classes of every module: schemas → model-runtime
 * → operators → jobs → tools, one way. A break names the class and the dependency that crosses.
 */
class ArchitectureTest {
  private static JavaClasses main;

  @BeforeAll
  static void importMainClasses() {
    // the modules come as jars or class folders depending on the build phase; test classes are left out
    main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("io.distilstream");
  }

  private static void check(ArchRule rule) {
    rule.check(main);
  }

  @Test
  void schemasDependOnAvroAlone() {
    check(noClasses().that().resideInAPackage("io.distilstream.schemas..")
        .should().dependOnClassesThat().resideInAnyPackage("io.distilstream.runtime..", "io.distilstream.operators..",
            "io.distilstream.jobs..", "org.apache.flink..", "org.apache.kafka..")
        .because("the event schemas are the contract every other module and every producer shares"));
  }

  @Test
  void modelRuntimeKnowsNoFlinkOrKafka() {
    check(noClasses().that().resideInAPackage("io.distilstream.runtime..")
        .should().dependOnClassesThat().resideInAnyPackage("org.apache.flink..", "org.apache.kafka..",
            "io.distilstream.operators..", "io.distilstream.jobs..", "io.distilstream.schemas..")
        .because("model-runtime serves the CLI and any JVM host; Flink and Kafka come in above it"));
  }

  @Test
  void operatorsKnowNoKafka() {
    check(noClasses().that().resideInAPackage("io.distilstream.operators..")
        .should().dependOnClassesThat().resideInAnyPackage("org.apache.kafka..",
            "org.apache.flink.connector.kafka..", "io.distilstream.jobs..")
        .because("the operators run on any Flink source and sink; the Kafka wiring is the job's"));
  }

  @Test
  void nothingBelowTheToolsImportsThem() {
    check(noClasses().that().resideInAnyPackage("io.distilstream.schemas..", "io.distilstream.runtime..",
            "io.distilstream.operators..", "io.distilstream.jobs..")
        .should().dependOnClassesThat().resideInAPackage("io.distilstream.tools..")
        .because("bench, local cluster, fault runs and the demo are tools around the job (the tools module); the"
            + " CLI finds their commands with ServiceLoader, so the job jar never needs them"));
  }
}
