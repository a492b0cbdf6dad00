#include "common/mailstore/threading.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

namespace postline::mailstore {

namespace {

// Deeper reply chains are flattened at this depth: every later step (and
// imapd's rendering) recurses over the tree, and a hostile run of References
// headers could otherwise chain a whole mailbox into one branch.
constexpr size_t kMaxThreadDepth = 500;

struct Node {
  int msg = -1;  // index into the messages; -1 is a dummy
  std::vector<Node> children;
};

struct Threader {
  const std::vector<ThreadInput>& m;

  bool dummy(const Node& n) const { return n.msg < 0; }
  // RFC 5256 2.2: by sent date, ties by mailbox order. A dummy sorts as its
  // first child (its children are sorted before it is).
  std::pair<int64_t, Uid> date(const Node& n) const {
    const Node* x = &n;
    while (x->msg < 0 && !x->children.empty()) x = &x->children.front();
    if (x->msg < 0) return {INT64_MAX, UINT32_MAX};
    return {m[x->msg].sent, m[x->msg].uid};
  }
  void sort_by_date(std::vector<Node>& list) const {
    std::stable_sort(list.begin(), list.end(), [&](const Node& a, const Node& b) { return date(a) < date(b); });
  }
  // Step 6: siblings sorted by date, the deepest sets first.
  void sort_tree(std::vector<Node>& list) const {
    for (auto& n : list) sort_tree(n.children);
    sort_by_date(list);
  }
  const std::string& subject(const Node& n) const {
    static const std::string kNone;
    const Node* x = &n;
    if (x->msg < 0 && !x->children.empty()) x = &x->children.front();
    return x->msg < 0 ? kNone : m[x->msg].subject;
  }
  bool reply(const Node& n) const { return n.msg >= 0 && m[n.msg].reply_or_forward; }

  // Step 3: dummies without children go; dummies with children give them to
  // their parent, except at the top level where that needs a single child.
  void prune(std::vector<Node>& list, bool top) const {
    std::vector<Node> out;
    out.reserve(list.size());
    for (auto& n : list) {
      prune(n.children, false);
      if (dummy(n)) {
        if (n.children.empty()) continue;
        if (!top || n.children.size() == 1) {
          for (auto& c : n.children) out.push_back(std::move(c));
          continue;
        }
      }
      out.push_back(std::move(n));
    }
    list = std::move(out);
  }

  ThreadNode to_thread(const Node& n) const {
    ThreadNode t;
    t.uid = n.msg >= 0 ? m[n.msg].uid : 0;
    t.children.reserve(n.children.size());
    for (const auto& c : n.children) t.children.push_back(to_thread(c));
    return t;
  }

  std::vector<Node> ordered_subject() const {
    std::vector<int> order(m.size());
    for (size_t i = 0; i < m.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (m[a].subject != m[b].subject) return m[a].subject < m[b].subject;
      return std::pair(m[a].sent, m[a].uid) < std::pair(m[b].sent, m[b].uid);
    });
    std::vector<Node> threads;
    for (size_t i = 0; i < order.size(); ++i) {
      if (i > 0 && m[order[i]].subject == m[order[i - 1]].subject) {
        threads.back().children.push_back(Node{order[i], {}});
        continue;
      }
      threads.push_back(Node{order[i], {}});
    }
    sort_by_date(threads);
    return threads;
  }

  std::vector<Node> references() const {
    // Step 1: containers by message id, linked parent -> child.
    struct Container {
      int msg = -1;
      int parent = -1;
      std::vector<int> children;
    };
    std::vector<Container> c;
    std::unordered_map<std::string, int> by_id;
    auto container_for = [&](const std::string& id) {
      auto [it, added] = by_id.try_emplace(id, static_cast<int>(c.size()));
      if (added) c.emplace_back();
      return it->second;
    };
    // A link p -> x is refused when x is p or one of p's ancestors (a loop).
    auto would_loop = [&](int p, int x) {
      for (int a = p; a >= 0; a = c[a].parent)
        if (a == x) return true;
      return false;
    };
    auto unlink = [&](int x) {
      auto& siblings = c[c[x].parent].children;
      siblings.erase(std::find(siblings.begin(), siblings.end(), x));
      c[x].parent = -1;
    };
    auto link = [&](int p, int x) {
      c[x].parent = p;
      c[p].children.push_back(x);
    };
    for (size_t i = 0; i < m.size(); ++i) {
      const ThreadInput& in = m[i];
      // No Message-ID, or one an earlier message has: an id of its own
      // (a NUL never appears in a stored id).
      std::string id = in.message_id;
      if (id.empty() || (by_id.count(id) && c[by_id[id]].msg >= 0))
        id = std::string(1, '\0') + std::to_string(in.uid);
      const int self = container_for(id);
      c[self].msg = static_cast<int>(i);
      // (A) the references chain, without replacing links made before.
      int prev = -1;
      for (const auto& ref : in.references) {
        const int r = container_for(ref);
        if (prev >= 0 && c[r].parent < 0 && !would_loop(prev, r)) link(prev, r);
        prev = r;
      }
      // (B) the message under its last reference; a parent it had from an
      // earlier (probably truncated) References goes.
      if (c[self].parent >= 0) unlink(self);
      if (prev >= 0 && !would_loop(prev, self)) link(prev, self);
    }
    // Step 2: the parentless containers are the top level. Built without
    // recursion (chains can be as long as the mailbox); below
    // kMaxThreadDepth, descendants hang flat under the node at that depth.
    std::vector<Node> top;
    for (size_t i = 0; i < c.size(); ++i)
      if (c[i].parent < 0) top.push_back(build(c, static_cast<int>(i)));
    // Step 3.
    prune(top, true);
    // Step 4: the top level by date (a dummy by its first child).
    for (auto& n : top)
      if (dummy(n)) sort_by_date(n.children);
    sort_by_date(top);
    // Step 5: threads with the same base subject merge.
    std::vector<std::optional<Node>> roots;
    for (auto& n : top) roots.emplace_back(std::move(n));
    std::vector<std::string> subjects;
    for (auto& n : roots) subjects.push_back(subject(*n));
    std::map<std::string, size_t> table;
    for (size_t i = 0; i < roots.size(); ++i) {
      if (subjects[i].empty()) continue;
      auto [it, added] = table.try_emplace(subjects[i], i);
      if (added) continue;
      const Node& t = *roots[it->second];
      const Node& cur = *roots[i];
      if (!dummy(t) && (dummy(cur) || (reply(t) && !reply(cur)))) it->second = i;
    }
    for (size_t i = 0; i < roots.size(); ++i) {
      if (subjects[i].empty()) continue;
      const size_t ti = table.at(subjects[i]);
      if (ti == i) continue;
      Node& t = *roots[ti];
      Node cur = std::move(*roots[i]);
      roots[i].reset();
      if (dummy(t) && dummy(cur)) {
        for (auto& ch : cur.children) t.children.push_back(std::move(ch));
      } else if (dummy(t)) {
        t.children.push_back(std::move(cur));
      } else if (!dummy(cur) && reply(cur) && !reply(t)) {
        t.children.push_back(std::move(cur));
      } else {
        Node d;
        d.children.push_back(std::move(t));
        if (dummy(cur)) {
          for (auto& ch : cur.children) d.children.push_back(std::move(ch));
        } else {
          d.children.push_back(std::move(cur));
        }
        *roots[ti] = std::move(d);
      }
    }
    std::vector<Node> out;
    for (auto& n : roots)
      if (n) out.push_back(std::move(*n));
    // Step 6.
    sort_tree(out);
    return out;
  }

  template <typename Containers>
  Node build(const Containers& c, int root) const {
    Node out{c[root].msg, {}};
    // (container, node to fill, depth) without recursion.
    struct Item {
      int container;
      Node* node;
      size_t depth;
    };
    std::vector<Item> stack{{root, &out, 1}};
    while (!stack.empty()) {
      Item it = stack.back();
      stack.pop_back();
      const auto& kids = c[it.container].children;
      if (it.depth >= kMaxThreadDepth) {
        // Everything below, flat, in depth-first order.
        std::vector<int> rest(kids.rbegin(), kids.rend());
        while (!rest.empty()) {
          const int x = rest.back();
          rest.pop_back();
          it.node->children.push_back(Node{c[x].msg, {}});
          for (auto k = c[x].children.rbegin(); k != c[x].children.rend(); ++k) rest.push_back(*k);
        }
        continue;
      }
      it.node->children.reserve(kids.size());  // no reallocation: the stack points into it
      for (int k : kids) it.node->children.push_back(Node{c[k].msg, {}});
      for (size_t k = 0; k < kids.size(); ++k) stack.push_back({kids[k], &it.node->children[k], it.depth + 1});
    }
    return out;
  }
};

}  // namespace

std::vector<ThreadNode> compute_threads(const std::vector<ThreadInput>& messages, ThreadAlgorithm algorithm) {
  Threader t{messages};
  std::vector<Node> threads =
      algorithm == ThreadAlgorithm::kOrderedSubject ? t.ordered_subject() : t.references();
  std::vector<ThreadNode> out;
  out.reserve(threads.size());
  for (const auto& n : threads) out.push_back(t.to_thread(n));
  return out;
}

}  // namespace postline::mailstore
