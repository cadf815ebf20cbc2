package io.distilstream.jobs.kafka;

import java.util.List;
import java.util.OptionalInt;
import org.apache.avro.Schema;

/**
 * What starting the job would do with one output topic's schema under {@code output.format=avro-confluent}, found
 * by asking the registry without registering anything ({@code job --dry-run}): a lookup ({@code POST
 * /subjects/{s}}), then, for a schema not registered yet, a compatibility test against the subject's latest version
 * ({@code POST /compatibility/subjects/{s}/versions/latest}). One request each, no retries: the request timeout
 * bounds the wait.
 *
 * @param topic the output topic
 * @param subject the subject {@code value.subject.name.strategy} names for it
 * @param outcome what starting the job would do
 * @param id the registered id ({@link Outcome#REGISTERED}), else -1
 * @param message the registry's reasons ({@link Outcome#INCOMPATIBLE}) or the failure, else null
 */
public record SchemaPlan(String topic, String subject, Outcome outcome, int id, String message) {
  /** What starting the job would do with the schema. */
  public enum Outcome {
    /** Register it (a new subject, or a version the subject's compatibility level accepts). */
    REGISTER,
    /** Nothing: it is registered under the subject already. */
    REGISTERED,
    /** Stop: the subject's compatibility level refuses it. */
    INCOMPATIBLE,
    /** Stop: it is not registered and {@code auto.register.schemas=false}. */
    MISSING,
    /** Stop: the registry did not answer (refused, timed out, 5xx). */
    UNREACHABLE,
    /** Stop: the registry refused the request (credentials, TLS, ...). */
    REFUSED
  }

  /** Asks {@code registry} about {@code schema} for {@code topic}; registers nothing. */
  public static SchemaPlan of(SchemaRegistryClient registry, String topic, Schema schema) {
    String subject = registry.settings().subjectStrategy().subject(topic, schema);
    try {
      OptionalInt id = registry.find(subject, schema);
      if (id.isPresent()) {
        return new SchemaPlan(topic, subject, Outcome.REGISTERED, id.getAsInt(), null);
      }
      if (!registry.settings().autoRegister()) {
        return new SchemaPlan(topic, subject, Outcome.MISSING, -1, null);
      }
      List<String> why = registry.incompatibilities(subject, schema);
      return why.isEmpty() ? new SchemaPlan(topic, subject, Outcome.REGISTER, -1, null)
          : new SchemaPlan(topic, subject, Outcome.INCOMPATIBLE, -1, String.join("; ", why));
    } catch (SchemaRegistryClient.RegistryException e) {
      return new SchemaPlan(topic, subject, e.kind() == SchemaRegistryClient.RegistryException.Kind.UNAVAILABLE
          ? Outcome.UNREACHABLE : Outcome.REFUSED, -1, e.getMessage());
    }
  }

  /** Whether starting the job would stop at this schema. */
  public boolean startFails() {
    return outcome != Outcome.REGISTER && outcome != Outcome.REGISTERED;
  }

  /** One line: {@code TOPIC: subject SUBJECT: WHAT STARTING WOULD DO}. */
  public String describe() {
    String what;
    switch (outcome) {
      case REGISTER: what = "register"; break;
      case REGISTERED: what = "already registered (id " + id + ")"; break;
      case INCOMPATIBLE: what = "incompatible: " + message; break;
      case MISSING: what = "missing (auto.register.schemas=false)"; break;
      case UNREACHABLE: what = "registry unreachable: " + message; break;
      default: what = "refused: " + message; break;
    }
    return topic + ": subject " + subject + ": " + what;
  }
}
