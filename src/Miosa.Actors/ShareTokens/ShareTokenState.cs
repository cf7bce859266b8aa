using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Actors.ShareTokens;

/// <summary>One share link of a sandbox port. Pure; revocation is final.</summary>
public sealed record ShareTokenState(
    string Id,
    string? OrganizationId,
    string SandboxId,
    int Port,
    string TokenHash,
    string? PasswordHash,
    DateTimeOffset? ExpiresAt,
    bool Revoked,
    Attribution Attribution,
    DateTimeOffset CreatedAt,
    long RouteVersion) : IMiosaMessage
{
    public static ShareTokenState Empty(string id) => new(id, null, "", 0, "", null, null, false, Attribution.None, default, 0);

    public bool Exists => OrganizationId is not null;

    public Decision Process(IShareTokenCommand command) => command switch
    {
        CreateShareToken c when Exists => c.OrganizationId == OrganizationId && c.TokenHash == TokenHash
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("share_token_exists", $"Share token {Id} already exists.")),
        CreateShareToken c => Decision.Accept(new ShareTokenCreated(c.TokenId, c.OrganizationId, c.SandboxId, c.Port, c.TokenHash,
            c.PasswordHash, c.ExpiresAt, c.Attribution, c.At, c.ActorKeyId)),
        GetShareToken c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        RevokeShareToken c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        RevokeShareToken when Revoked => Decision.Nothing,
        RevokeShareToken c => Decision.Accept(new ShareTokenRevoked(Id, OrganizationId!, c.At, c.ActorKeyId)),
        _ => Decision.Nothing,
    };

    public ShareTokenState Apply(IMiosaEvent @event) => @event switch
    {
        ShareTokenCreated e => this with
        {
            OrganizationId = e.OrganizationId,
            SandboxId = e.SandboxId,
            Port = e.Port,
            TokenHash = e.TokenHash,
            PasswordHash = e.PasswordHash,
            ExpiresAt = e.ExpiresAt,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            RouteVersion = RouteVersion + 1,
        },
        ShareTokenRevoked => this with { Revoked = true, RouteVersion = RouteVersion + 1 },
        _ => this,
    };

    /// <summary>A revoked token is gone for its organization too (404), like a deleted resource.</summary>
    public bool VisibleTo(string organizationId) => Exists && OrganizationId == organizationId && !Revoked;

    public ShareTokenView ToView() => new(Id, OrganizationId!, SandboxId, Port, ExpiresAt, PasswordHash is not null, Revoked, Attribution, CreatedAt);

    public ShareTokenRoute ToRoute() => new(Id, OrganizationId!, SandboxId, Port, TokenHash, PasswordHash, ExpiresAt, Revoked, RouteVersion);

    private Rejection NotFound => Rejection.NotFound("share_token_not_found", $"Share token {Id} does not exist.");
}
