// AuthService: what smtpd and imapd ask. Callback API: handlers post work to
// the pools in ServiceContext and finish from there, so no gRPC thread ever
// waits on PostgreSQL or argon2.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mail/v1/auth.grpc.pb.h"
#include "services/auth/core/scram.h"
#include "services/auth/server/context.h"
#include "services/auth/server/login.h"

namespace postline::auth {

// A SASL exchange between SaslStart and its last SaslStep, kept in this process.
struct SaslConversation {
  std::string mechanism;
  LoginRequest request;  // protocol, ip, username once known; password for LOGIN
  enum class Stage { kLoginUsername, kLoginPassword, kScramFinal } stage = Stage::kLoginUsername;
  scram::ServerConversation scram;
  std::string account;
  std::optional<LoginRecord> record;
  int account_failures = 0;  // seen by the throttle check (ThrottleVerdict)
  std::chrono::steady_clock::time_point expires;
};

class SaslConversations {
 public:
  explicit SaslConversations(size_t limit = 10000, std::chrono::seconds ttl = std::chrono::seconds(60))
      : limit_(limit), ttl_(ttl) {}
  // Returns the new id, or empty if too many are open (overload).
  std::string put(std::shared_ptr<SaslConversation> c);
  // Removes and returns the conversation; nullptr if unknown or expired.
  std::shared_ptr<SaslConversation> take(const std::string& id);

 private:
  void expire_locked(std::chrono::steady_clock::time_point now);
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<SaslConversation>> open_;
  size_t limit_;
  std::chrono::seconds ttl_;
};

class AuthServiceImpl final : public mail::v1::AuthService::CallbackService {
 public:
  explicit AuthServiceImpl(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* context, const mail::v1::AuthenticateRequest* req,
                                         mail::v1::AuthenticateResponse* resp) override;
  grpc::ServerUnaryReactor* ResolveRecipient(grpc::CallbackServerContext* context,
                                             const mail::v1::ResolveRecipientRequest* req,
                                             mail::v1::ResolveRecipientResponse* resp) override;
  grpc::ServerUnaryReactor* ListMechanisms(grpc::CallbackServerContext* context,
                                           const mail::v1::ListMechanismsRequest* req,
                                           mail::v1::ListMechanismsResponse* resp) override;
  grpc::ServerUnaryReactor* SaslStart(grpc::CallbackServerContext* context, const mail::v1::SaslStartRequest* req,
                                      mail::v1::SaslStepResponse* resp) override;
  grpc::ServerUnaryReactor* SaslStep(grpc::CallbackServerContext* context, const mail::v1::SaslStepRequest* req,
                                     mail::v1::SaslStepResponse* resp) override;
  grpc::ServerUnaryReactor* GetQuota(grpc::CallbackServerContext* context, const mail::v1::GetQuotaRequest* req,
                                     mail::v1::QuotaResponse* resp) override;
  grpc::ServerUnaryReactor* SetQuota(grpc::CallbackServerContext* context, const mail::v1::SetQuotaRequest* req,
                                     mail::v1::QuotaResponse* resp) override;

 private:
  // Drives a conversation one step with the client's `data`; finishes `reactor`.
  void advance(std::shared_ptr<SaslConversation> conv, std::string data, mail::v1::SaslStepResponse* resp,
               grpc::ServerUnaryReactor* reactor, std::shared_ptr<grpcutil::RpcMetrics::Timer> timer);
  void finish_outcome(const LoginOutcome& out, mail::v1::SaslStepResponse* resp, grpc::ServerUnaryReactor* reactor,
                      std::shared_ptr<grpcutil::RpcMetrics::Timer> timer, const std::string& server_final = {});
  void scram_first(std::shared_ptr<SaslConversation> conv, std::string data, mail::v1::SaslStepResponse* resp,
                   grpc::ServerUnaryReactor* reactor, std::shared_ptr<grpcutil::RpcMetrics::Timer> timer);
  void scram_final(std::shared_ptr<SaslConversation> conv, std::string data, mail::v1::SaslStepResponse* resp,
                   grpc::ServerUnaryReactor* reactor, std::shared_ptr<grpcutil::RpcMetrics::Timer> timer);

  ServiceContext& ctx_;
  SaslConversations conversations_;
};

}  // namespace postline::auth
