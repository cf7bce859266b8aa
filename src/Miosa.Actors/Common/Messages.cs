namespace Miosa.Actors.Common;

/// <summary>Every message that crosses a node or is persisted; serialized by <see cref="MiosaJsonSerializer"/>.</summary>
public interface IMiosaMessage;

/// <summary>A persisted event of an entity.</summary>
public interface IMiosaEvent : IMiosaMessage;

/// <summary>
/// An event that belongs in the organization's audit log (GET /v1/audit-events): entities tag it
/// "audit" besides their own kind, and the audit projection follows that tag.
/// </summary>
public interface IAuditedEvent : IMiosaEvent
{
    string OrganizationId { get; }

    /// <summary>What happened, e.g. "api_key.created".</summary>
    string Action { get; }

    /// <summary>The id of the resource it happened to.</summary>
    string ResourceId { get; }

    DateTimeOffset At { get; }

    /// <summary>The API key that asked for it; null for the operator, the platform, or not recorded.</summary>
    string? ActorKeyId => null;
}

/// <summary>
/// Metered consumption of one resource over one window (GET /v1/usage). It carries its organization
/// and attribution so usage rows need no joins; entities tag it "usage" only (see EventSourcedEntity).
/// </summary>
public interface IUsageEvent : IMiosaEvent
{
    string OrganizationId { get; }

    /// <summary>"sandbox" now; runtime instances, snapshots and releases later.</summary>
    string ResourceType { get; }

    string ResourceId { get; }

    /// <summary>Who the resource belongs to, without metadata (usage groups by ids only).</summary>
    Attribution Attribution { get; }

    DateTimeOffset WindowStart { get; }

    DateTimeOffset WindowEnd { get; }

    /// <summary>How long the resource ran in the window.</summary>
    double RunningSeconds { get; }

    double CpuSeconds { get; }

    double MemoryMbSeconds { get; }

    /// <summary>Bytes held at the end of the window; null when not measured in this window.</summary>
    long? StorageBytes { get; }

    long EgressBytes { get; }
}

/// <summary>A message addressed to one sharded entity.</summary>
public interface IEntityMessage : IMiosaMessage
{
    string EntityId { get; }
}

/// <summary>Why a command was refused, in the API's stable error codes.</summary>
public sealed record Rejection(string Code, string Detail, int Status, string? Field = null) : IMiosaMessage
{
    public static Rejection Invalid(string field, string detail) => new("invalid_request", detail, 400, field);

    public static Rejection NotFound(string code, string detail) => new(code, detail, 404);
    public static Rejection Conflict(string code, string detail) => new(code, detail, 409);
}

/// <summary>Who a resource belongs to in the customer platform's own terms; stored as given.</summary>
public sealed record Attribution(
    string? WorkspaceId = null,
    string? ProjectId = null,
    string? ExternalWorkspaceId = null,
    string? ExternalUserId = null,
    string? ExternalProjectId = null,
    IReadOnlyDictionary<string, string>? Metadata = null)
{
    public static Attribution None { get; } = new();
}
