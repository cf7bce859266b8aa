using System.Data.Common;
using Microsoft.Data.Sqlite;
using Miosa.Actors.Hosting;
using Npgsql;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// The SQL database that holds read models: the journal's own database (SQLite file or PostgreSQL),
/// in tables of their own. The SQL used here is the subset both engines speak.
/// </summary>
public sealed class ReadModelDatabase(MiosaNodeOptions options)
{
    public async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        DbConnection connection = options.UsesPostgres
            ? new NpgsqlConnection(options.Database)
            : new SqliteConnection(options.SqliteConnectionString);
        await connection.OpenAsync(ct);
        if (connection is SqliteConnection)
        {
            // The journal writes the same file: wait for its lock rather than fail.
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout = 5000;";
            await pragma.ExecuteNonQueryAsync(ct);
        }
        return connection;
    }

    public async Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, sql, parameters);
        await command.ExecuteNonQueryAsync(ct);
    }

    public static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }
}
