using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Previews;

public enum PreviewVisibility { Private, Public }

/// <summary>A port of a sandbox made reachable through the edge. It lives and dies with its sandbox.</summary>
public sealed record SandboxPreview(string Id, int Port, PreviewVisibility Visibility, Attribution Attribution, DateTimeOffset CreatedAt)
    : IMiosaMessage;

/// <summary>Opens a preview; a port that already has one answers that preview (idempotent).</summary>
public sealed record OpenPreview(
    string SandboxId, string OrganizationId, string PreviewId, int Port, PreviewVisibility Visibility, Attribution Attribution, DateTimeOffset At)
    : ISandboxCommand;

public sealed record ClosePreview(string SandboxId, string OrganizationId, string PreviewId, DateTimeOffset At) : ISandboxCommand;

public sealed record ListPreviews(string SandboxId, string OrganizationId) : ISandboxCommand;

public sealed record PreviewOpened(string SandboxId, SandboxPreview Preview) : IMiosaEvent;

public sealed record PreviewClosed(string SandboxId, string PreviewId, DateTimeOffset At) : IMiosaEvent;

/// <summary>The previews of one sandbox, as the API lists them.</summary>
public sealed record PreviewList(string SandboxId, string OrganizationId, IReadOnlyList<SandboxPreview> Previews) : IMiosaMessage;

/// <summary>
/// Preview ids carry their sandbox (<c>prv_</c> + the sandbox's id suffix + a random part), so
/// <c>DELETE /v1/previews/{id}</c> reaches the one entity that holds it without a lookup table.
/// Clients treat them as opaque.
/// </summary>
public static class PreviewIds
{
    private const int RandomLength = 8;

    public static string New(string sandboxId) =>
        $"{IdPrefix.Preview}_{sandboxId[(IdPrefix.Sandbox.Length + 1)..]}{ResourceId.RandomToken(RandomLength)}";

    /// <summary>The sandbox a preview id belongs to, or null when it is not a well-formed preview id.</summary>
    public static string? SandboxOf(string? previewId) =>
        ResourceId.IsValid(previewId, IdPrefix.Preview) && previewId!.Length == IdPrefix.Preview.Length + 1 + ResourceId.SuffixLength + RandomLength
            ? $"{IdPrefix.Sandbox}_{previewId.Substring(IdPrefix.Preview.Length + 1, ResourceId.SuffixLength)}"
            : null;
}
