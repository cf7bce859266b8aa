using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.Slugs;

/// <summary>Slugs are unique within a scope (e.g. all organizations, or one organization's workspaces).</summary>
public interface ISlugCommand : IEntityMessage
{
    string Scope { get; }
    string IEntityMessage.EntityId => Scope;
}

public sealed record ClaimSlug(string Scope, string Slug, string OwnerId) : ISlugCommand;

public sealed record LookupSlug(string Scope, string Slug) : ISlugCommand;

public sealed record SlugClaimed(string Scope, string Slug, string OwnerId) : IMiosaEvent;

/// <summary>Reply to a claim or lookup: the owner, or null when the slug is free.</summary>
public sealed record SlugOwner(string Slug, string? OwnerId) : IMiosaMessage;

public sealed partial record SlugRegistryState(string Scope, ImmutableDictionary<string, string> Owners) : IMiosaMessage
{
    /// <summary>A DNS label: it appears in host names.</summary>
    public static bool IsValidSlug(string? slug) => slug is not null && DnsLabel().IsMatch(slug);

    public Decision Process(ISlugCommand command) => command switch
    {
        ClaimSlug c when !IsValidSlug(c.Slug) =>
            Decision.Reject(new Rejection("invalid_slug", "slug must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'.", 422)),
        ClaimSlug c when Owners.TryGetValue(c.Slug, out var owner) => owner == c.OwnerId
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("slug_taken", $"The slug '{c.Slug}' is already in use.")),
        ClaimSlug c => Decision.Accept(new SlugClaimed(Scope, c.Slug, c.OwnerId)),
        _ => Decision.Nothing,
    };

    public SlugRegistryState Apply(IMiosaEvent @event) => @event switch
    {
        SlugClaimed e => this with { Owners = Owners.SetItem(e.Slug, e.OwnerId) },
        _ => this,
    };

    public SlugOwner OwnerOf(string slug) => new(slug, Owners.GetValueOrDefault(slug));

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}

public sealed class SlugRegistryActor : EventSourcedEntity<SlugRegistryState>
{
    public const string Kind = "slugs";
    public const string OrganizationScope = "organizations";

    public SlugRegistryActor(string scope) : base(Kind, scope, new SlugRegistryState(scope, ImmutableDictionary<string, string>.Empty))
    {
        Command<ClaimSlug>(c => Commit(State.Process(c), s => s.OwnerOf(c.Slug)));
        Command<LookupSlug>(c => Sender.Tell(State.OwnerOf(c.Slug)));
    }

    protected override SlugRegistryState Apply(SlugRegistryState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string scope) => Props.Create(() => new SlugRegistryActor(scope));
}
