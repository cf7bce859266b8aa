using System.Collections.Concurrent;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace Miosa.Actors.Common;

/// <summary>
/// System.Text.Json for every <see cref="IMiosaMessage"/>: the manifest is the type's full name,
/// so persisted events stay readable across releases as long as names are kept.
/// </summary>
public sealed class MiosaJsonSerializer : SerializerWithStringManifest
{
    private static readonly ConcurrentDictionary<string, Type> TypesByManifest = new(
        typeof(IMiosaMessage).Assembly.GetTypes()
            .Where(t => typeof(IMiosaMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .ToDictionary(t => t.FullName!, t => t));

    private readonly JsonSerializerOptions _options;

    public MiosaJsonSerializer(ExtendedActorSystem system) : base(system)
    {
        _options = new JsonSerializerOptions
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Converters = { new JsonStringEnumConverter(), new ActorRefConverter(system) },
        };
    }

    public override int Identifier => 4242;

    public override string Manifest(object o) => o.GetType().FullName!;

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), _options);

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var type = TypesByManifest.GetOrAdd(manifest, m =>
            typeof(IMiosaMessage).Assembly.GetType(m)
            ?? throw new SerializationException($"Unknown Miosa message type '{m}'."));
        return JsonSerializer.Deserialize(bytes, type, _options)
               ?? throw new SerializationException($"Null payload for '{manifest}'.");
    }

    private sealed class ActorRefConverter(ExtendedActorSystem system) : JsonConverter<IActorRef>
    {
        public override IActorRef Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            system.Provider.ResolveActorRef(reader.GetString()!);

        public override void Write(Utf8JsonWriter writer, IActorRef value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Akka.Serialization.Serialization.SerializedActorPath(value));
    }
}
