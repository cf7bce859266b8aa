using Akka.Cluster.Sharding;

namespace Miosa.Actors.Common;

/// <summary>Routes every <see cref="IEntityMessage"/> to its entity; one extractor for all regions.</summary>
public sealed class EntityMessageExtractor(int maxShards = 100) : HashCodeMessageExtractor(maxShards)
{
    public override string? EntityId(object message) => (message as IEntityMessage)?.EntityId;
}
