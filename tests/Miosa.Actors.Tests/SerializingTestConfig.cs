using Akka.Configuration;

namespace Miosa.Actors.Tests;

/// <summary>In-memory journal, with every persisted event and snapshot going through the Miosa serializer.</summary>
public static class SerializingTestConfig
{
    public static Config Value { get; } = ConfigurationFactory.ParseString("""
        akka.actor.serializers.miosa-json = "Miosa.Actors.Common.MiosaJsonSerializer, Miosa.Actors"
        akka.actor.serialization-bindings { "Miosa.Actors.Common.IMiosaMessage, Miosa.Actors" = miosa-json }
        akka.persistence.journal.inmem.serialize-messages = on
        """);
}
